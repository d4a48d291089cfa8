import { describe, expect, it } from "@effect/vitest"
import { generateStateText, goLayout, jobId } from "../bench/generate.js"
import { benchReference, type ReferenceSize } from "./fixtures/bench/reference.js"

/** The Go tool's own file for that many jobs (carried in test/fixtures/bench). */
const reference = (jobs: ReferenceSize) => benchReference(jobs).toString("utf8")

/**
 * Where a value sits, with map keys and list indexes abstracted away, so
 * every job (every commit, ...) lands on the same path.
 */
const MAPS = new Set(["repos", "workspaces", "opencode_sessions", "jobs"])

/**
 * For each abstract path, the distinct ordered key lists of the objects
 * found there (a completed and an active job differ, so "jobs.*" has two).
 */
const keyOrders = (doc: unknown): Record<string, Array<string>> => {
  const seen = new Map<string, Set<string>>()
  const walk = (value: unknown, at: string) => {
    if (Array.isArray(value)) {
      for (const item of value) walk(item, `${at}[]`)
    } else if (value !== null && typeof value === "object") {
      const keys = Object.keys(value)
      const isMap = at === "" ? false : at.split(".").length === 1 && MAPS.has(at)
      if (!isMap) {
        const set = seen.get(at) ?? new Set()
        set.add(keys.join(","))
        seen.set(at, set)
      }
      for (const [k, v] of Object.entries(value)) walk(v, isMap ? `${at}.*` : at === "" ? k : `${at}.${k}`)
    }
  }
  walk(doc, "")
  return Object.fromEntries([...seen].map(([k, v]) => [k, [...v].sort()]).sort(([a], [b]) => (a! < b! ? -1 : 1)))
}

const counts = (doc: any) => ({
  maps: [doc.repos, doc.workspaces, doc.opencode_sessions, doc.jobs].map((m) => Object.keys(m).length),
  // Distinct per-job [sessions, changes, commits of each change, last outcome of each change].
  perJob: [
    ...new Set(
      Object.values(doc.jobs).map((j: any) =>
        JSON.stringify([
          j.opencode_sessions.length,
          j.changes.length,
          ...j.changes.map((c: any) => c.commits.length),
          ...j.changes.map((c: any) => c.commits.at(-1).review.outcome)
        ])
      )
    )
  ],
  statuses: Object.values(doc.jobs).reduce((m: Record<string, number>, j: any) => ({ ...m, [j.status]: (m[j.status] ?? 0) + 1 }), {})
})

describe("the benchmark state generator", () => {
  it.each([10, 1000] as const)("matches the Go benchmark's %i-job file in keys, key order, counts and size", (jobs) => {
    const ref = reference(jobs)
    const generated = generateStateText(jobs)
    const [g, r] = [JSON.parse(generated), JSON.parse(ref)]
    // The checker sees every level: records, lists of records, and both kinds of job.
    expect(Object.keys(keyOrders(r))).toEqual(expect.arrayContaining(["jobs.*.changes[].commits[].review", "jobs.*.project_review"]))
    expect(keyOrders(r)["jobs.*"]).toHaveLength(2)
    expect(keyOrders(g)).toEqual(keyOrders(r))
    expect(counts(g)).toEqual(counts(r))
    expect(Math.abs(generated.length / ref.length - 1)).toBeLessThan(0.02)
    expect(Buffer.byteLength(generated)).toBe(generated.length)
  })

  it.each([10, 1000] as const)("writes Go's layout, as Go's own %i-job file is written", (jobs) => {
    // The check is only meaningful if Go's file passes it too.
    expect(goLayout(JSON.parse(reference(jobs)))).toBe(reference(jobs))
    const generated = generateStateText(jobs)
    expect(goLayout(JSON.parse(generated))).toBe(generated)
    expect(generated.endsWith("}")).toBe(true)
    expect(generated).toContain("\\u0026")
    expect(generated).toContain("\\u003cempty\\u003e")
    expect(generated).not.toMatch(/[<>&]/)
  })

  it("sorts every map's keys bytewise and writes every time with nanoseconds and -08:00", () => {
    const text = generateStateText(1000)
    const doc = JSON.parse(text)
    for (const map of [doc.repos, doc.workspaces, doc.opencode_sessions, doc.jobs]) {
      const keys = Object.keys(map)
      expect(keys).toEqual([...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))))
    }
    const times = text.match(/"[a-z_]+_at": "[^"]*"/g)!.map((t) => t.split(": ")[1]!.slice(1, -1))
    const real = times.filter((t) => t !== "0001-01-01T00:00:00Z")
    expect(real.length).toBeGreaterThan(times.length / 2)
    for (const t of real) expect(t).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}-08:00$/)
  })

  it("is deterministic per seed, and a seed changes ids but not the size", () => {
    expect(generateStateText(10)).toBe(generateStateText(10))
    expect(generateStateText(10, 7)).toBe(generateStateText(10, 7))
    expect(generateStateText(10, 7)).not.toBe(generateStateText(10))
    expect(generateStateText(10, 7).length).toBe(generateStateText(10).length)
  })

  it("names jobs as jobId says, without collisions", () => {
    const doc = JSON.parse(generateStateText(1000, 3))
    const ids = Array.from({ length: 1000 }, (_, i) => jobId(i, 3))
    expect([...ids].sort()).toEqual(Object.keys(doc.jobs))
    expect(new Set(Array.from({ length: 100_000 }, (_, i) => jobId(i))).size).toBe(100_000)
  })
})
