import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { generateStateText } from "../bench/generate.js"

/** Every record's keys, in order, by where it sits; plus counts per job. */
const shape = (text: string) => {
  const doc = JSON.parse(text)
  const keys = (o: object | undefined) => (o === undefined ? [] : Object.keys(o))
  const firstJob = (state: any, pick: (jobs: Array<any>) => any) => pick(Object.values(state.jobs))
  const completed = firstJob(doc, (jobs) => jobs.find((j) => j.status === "completed"))
  const active = firstJob(doc, (jobs) => jobs.find((j) => j.status === "active"))
  return {
    top: keys(doc),
    counts: [doc.repos, doc.workspaces, doc.opencode_sessions, doc.jobs].map((m) => Object.keys(m).length),
    repo: keys(Object.values(doc.repos)[0] as object),
    workspace: keys(Object.values(doc.workspaces)[0] as object),
    session: keys(Object.values(doc.opencode_sessions)[0] as object),
    completedJob: keys(completed),
    activeJob: keys(active),
    change: keys(completed.changes[0]),
    commit: keys(completed.changes[0].commits[0]),
    review: keys(completed.changes[0].commits[0].review),
    perJob: Object.values(doc.jobs).map((j: any) => [j.opencode_sessions.length, j.changes.length, j.changes[0].commits.length, j.changes[1].commits[2].review.outcome]),
    statuses: Object.values(doc.jobs).map((j: any) => j.status).sort()
  }
}

describe("the benchmark state generator", () => {
  it.each([10, 1000])("matches the Go benchmark's %i-job file in shape and size", (jobs) => {
    const reference = fs.readFileSync(path.join(import.meta.dirname, "..", "..", "shared", "bench", `state-${jobs}-jobs.json`), "utf8")
    const generated = generateStateText(jobs)
    expect(shape(generated)).toEqual(shape(reference))
    expect(Math.abs(generated.length / reference.length - 1)).toBeLessThan(0.02)
    expect(generated).toMatch(/"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+-08:00"/)
    expect(generated).toContain("\\u0026")
  })

  it("is deterministic", () => {
    expect(generateStateText(10)).toBe(generateStateText(10))
  })
})
