import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { pipe } from "effect/Function"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Job from "../src/Job.js"
import * as Schema from "../src/Schema.js"
import { NotFound } from "../src/StateError.js"
import * as Store from "../src/Store.js"
import * as Timestamp from "../src/Timestamp.js"
import { exampleState as example, exampleStatePath } from "./fixtures/example-state.js"

const t = (text: string) => Timestamp.Timestamp.make(text)
const at = (n: number) => t(`2026-01-0${n}T10:00:00.5-08:00`)


const load = Effect.flatMap(Store.StateStore, (store) => store.load)

const right = <A, E>(either: Either.Either<A, E>): A => {
  if (Either.isLeft(either)) throw new Error(`expected Right, got Left ${String(either.left)}`)
  return either.right
}

describe("Job.make and the record constructors", () => {
  it("fills in Go's zero values: empty enums and agent, zero times, no optional field", () => {
    const job = Job.make({ id: "j1", repo: "r", todoId: "td-1" })
    expect(job).toEqual({
      id: "j1",
      repo: "r",
      todoId: "td-1",
      agent: "",
      stage: "",
      status: "",
      createdAt: Timestamp.zero,
      startedAt: Timestamp.zero,
      updatedAt: Timestamp.zero,
      completedAt: Timestamp.zero
    })
    // Written as the Go tool writes a zero Job: every time, empty strings, no omitted field.
    const text = Schema.encode(Job.put(Schema.empty, job))
    expect(text).toContain(`"agent": "",\n      "stage": "",\n      "status": "",\n      "created_at": "0001-01-01T00:00:00Z"`)
    expect(text).not.toContain("changes")
    expect(Schema.decodeEither(text).pipe(Either.map((s) => s.jobs["j1"]))).toEqual(Either.right(job))
  })

  it("keeps the fields given, nested records included", () => {
    const review = Job.makeReview({ outcome: "ACCEPT", reviewedAt: at(3) })
    const commit = Job.makeCommit({ commitId: "c1", review, testsPassed: false })
    const change = Job.makeChange({ changeId: "ch1", commits: [commit] })
    const job = Job.make({ id: "j1", repo: "r", todoId: "td", status: "active", changes: [change] })
    expect(job.changes?.[0]?.commits?.[0]).toEqual({
      commitId: "c1",
      draftMessage: "",
      opencodeSessionId: "",
      createdAt: Timestamp.zero,
      testsPassed: false,
      review: { outcome: "ACCEPT", opencodeSessionId: "", reviewedAt: at(3) }
    })
    expect(Job.makeOpencodeSession({ purpose: "implement", id: "ses_1" })).toEqual({ purpose: "implement", id: "ses_1" })
  })

  it("throws a ParseError naming the field for a cast timestamp, a bad status, an unknown key or an empty optional", () => {
    const base = { id: "j1", repo: "r", todoId: "td" }
    expect(() => Job.make({ ...base, createdAt: "2026-01-01 10:00" as Timestamp.Timestamp })).toThrow(/createdAt/)
    expect(() => Job.make({ ...base, status: "done" as Schema.JobStatus })).toThrow(/status/)
    expect(() => Job.make({ ...base, todoID: "td" } as Job.MakeInput)).toThrow(/todoID/)
    // Go omits "" for feedback, so an empty one could not survive a round trip.
    expect(() => Job.make({ ...base, feedback: "" })).toThrow(/feedback/)
    expect(() => Job.makeCommit({ commitId: "c", createdAt: "yesterday" as Timestamp.Timestamp })).toThrow(/createdAt/)
    expect(() => Timestamp.Timestamp.make("2026-02-30T00:00:00Z")).toThrow()
  })
})

describe("Job edits", () => {
  const job = Job.make({ id: "j1", repo: "r", todoId: "td", status: "active", stage: "implementing", startedAt: at(1) })
  const commit = (id: string) => Job.makeCommit({ commitId: id, createdAt: at(2) })

  it("walk a job through its lifecycle: change, commits, tests, a rejection, an acceptance, completion", () => {
    const rejected = Job.makeReview({ outcome: "REQUEST_CHANGES", comments: "needs a test", reviewedAt: at(3) })
    const accepted = Job.makeReview({ outcome: "ACCEPT", reviewedAt: at(4) })
    const done = pipe(
      Job.appendChange(job, Job.makeChange({ changeId: "ch1", createdAt: at(2) })),
      Job.appendCommit(commit("c1")),
      Either.flatMap(Job.setTestsPassed(true)),
      Either.map(Job.setStage("reviewing")),
      Either.flatMap(Job.recordReview(rejected)),
      Either.flatMap(Job.appendCommit(commit("c2"))),
      Either.flatMap(Job.recordReview(accepted)),
      Either.map(Job.setProjectReview(accepted)),
      Either.map(Job.setStatus("completed", at(5))),
      right
    )
    const [change] = done.changes ?? []
    expect(change?.commits?.map((c) => [c.commitId, c.testsPassed, c.review?.outcome])).toEqual([
      ["c1", true, "REQUEST_CHANGES"],
      ["c2", undefined, "ACCEPT"]
    ])
    expect(Schema.isComplete(change!)).toBe(true)
    expect(Option.isNone(Schema.currentChange(done))).toBe(true)
    expect([done.stage, done.status, done.completedAt, done.projectReview?.outcome]).toEqual([
      "reviewing",
      "completed",
      at(5),
      "ACCEPT"
    ])
    // The original is untouched, and the result is a valid record.
    expect(job.changes).toBeUndefined()
    expect(Schema.decodeEither(Schema.encode(Job.put(Schema.empty, done))).pipe(Either.map((s) => s.jobs["j1"])))
      .toEqual(Either.right(done))
  })

  it("appendChange gives a change without commits an empty list, as Go does, and makes it current", () => {
    const one = Job.appendChange(job, Job.makeChange({ changeId: "ch1" }))
    expect(one.changes?.[0]?.commits).toEqual([])
    const complete = right(Job.recordReview(right(Job.appendCommit(one, commit("c1"))), Job.makeReview({ outcome: "ACCEPT" })))
    const two = Job.appendChange(complete, Job.makeChange({ changeId: "ch2" }))
    expect(Schema.currentChange(two).pipe(Option.map((c) => c.changeId))).toEqual(Option.some("ch2"))
    expect(two.changes?.map((c) => c.changeId)).toEqual(["ch1", "ch2"])
  })

  it("appendCommit fails with NoCurrentChange without changes or after the last change was accepted", () => {
    expect(Job.appendCommit(job, commit("c1"))).toEqual(Either.left(new Job.NoCurrentChange({ jobId: "j1" })))
    const accepted = pipe(
      Job.appendChange(job, Job.makeChange({ changeId: "ch1" })),
      Job.appendCommit(commit("c1")),
      Either.flatMap(Job.recordReview(Job.makeReview({ outcome: "ACCEPT" }))),
      right
    )
    const failed = Job.appendCommit(accepted, commit("c2"))
    expect(Either.isLeft(failed) && failed.left.message).toBe(
      `job "j1" has no current change (no changes, or the last one is complete)`
    )
  })

  it("recordReview and setTestsPassed fail with NoCurrentCommit without a current change or a commit on it", () => {
    const noCommit = Job.appendChange(job, Job.makeChange({ changeId: "ch1" }))
    const review = Job.makeReview({ outcome: "ACCEPT" })
    for (const j of [job, noCommit]) {
      expect(Job.recordReview(j, review)).toEqual(Either.left(new Job.NoCurrentCommit({ jobId: "j1" })))
      expect(Job.setTestsPassed(j, true)).toEqual(Either.left(new Job.NoCurrentCommit({ jobId: "j1" })))
    }
  })

  it("recordReview replaces the review of the last commit only", () => {
    const two = pipe(
      Job.appendChange(job, Job.makeChange({ changeId: "ch1" })),
      Job.appendCommit(commit("c1")),
      Either.flatMap(Job.recordReview(Job.makeReview({ outcome: "REQUEST_CHANGES" }))),
      Either.flatMap(Job.appendCommit(commit("c2"))),
      Either.flatMap(Job.recordReview(Job.makeReview({ outcome: "REQUEST_CHANGES", comments: "first" }))),
      Either.flatMap(Job.recordReview(Job.makeReview({ outcome: "REQUEST_CHANGES", comments: "second" }))),
      right
    )
    expect(two.changes?.[0]?.commits?.map((c) => c.review?.comments)).toEqual([undefined, "second"])
  })

  it("setStatus sets completedAt for every status but active", () => {
    expect(Job.setStatus(job, "active", at(5)).completedAt).toBe(Timestamp.zero)
    for (const status of ["completed", "failed", "abandoned"] as const) {
      expect(Job.setStatus(job, status, at(5))).toEqual({ ...job, status, completedAt: at(5) })
    }
  })

  it("appendOpencodeSession appends to the job's list", () => {
    const s = (id: string) => Job.makeOpencodeSession({ purpose: "implement", id })
    expect(pipe(job, Job.appendOpencodeSession(s("a")), Job.appendOpencodeSession(s("b"))).opencodeSessions).toEqual([
      s("a"),
      s("b")
    ])
  })
})

describe("Job queries", () => {
  it("byStatus lists a status's jobs in Go's order (started first, then id)", () => {
    // By instant, not by text: h4c8zz (05:30Z) started before k3x9qa (21:40-08:00, 05:40Z).
    expect(Job.byStatus(example, "active").map((j) => j.id)).toEqual(["h4c8zz", "k3x9qa", "p7m2zt"])
    expect(Job.byStatus(example, "completed").map((j) => j.id)).toEqual(["w8d4hn"])
    expect(Job.byStatus(example, "")).toEqual([])
  })

  it("byRepo lists a repo's jobs", () => {
    expect(Job.byRepo(example, "users-amonks-code-website").map((j) => j.id)).toEqual(["a9q1vv", "r2b7kc"])
    expect(Job.byRepo(example, "nope")).toEqual([])
  })

  it("activeForTodo finds the active job of a todo, and none for a todo whose job ended", () => {
    expect(Job.activeForTodo(example, "td-7f3k2m").pipe(Option.map((j) => j.id))).toEqual(Option.some("k3x9qa"))
    expect(Job.activeForTodo(example, "td-b5r1ee")).toEqual(Option.none())
    expect(Job.activeForTodo(example, "td-unknown")).toEqual(Option.none())
  })

  it("get and put treat every key as data, __proto__ and constructor included", () => {
    expect(Job.get(example, "constructor")).toEqual(Option.none())
    const odd = Job.make({ id: "__proto__", repo: "r", todoId: "td" })
    const state = Job.put(example, odd)
    expect(Job.get(state, "__proto__")).toEqual(Option.some(odd))
    expect(Object.keys(state.jobs)).toContain("__proto__")
    expect(Object.keys(example.jobs)).not.toContain("__proto__")
    expect(Schema.encode(state)).toContain(`"__proto__": {`)
  })
})

describe("Job.update", () => {
  it.effect("edits one job in the store, stamps updatedAt from the Clock and returns the job as written", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 0, 2, 3, 4, 5))
      const updated = yield* Job.update("k3x9qa", Job.setStage("testing"))
      expect([updated.stage, updated.updatedAt]).toEqual(["testing", "2026-01-02T03:04:05Z"])
      const state = yield* load
      expect(state.jobs["k3x9qa"]).toEqual(updated)
      // Nothing else was touched.
      expect(state.jobs["w8d4hn"]).toEqual(example.jobs["w8d4hn"])
    }).pipe(Effect.provide(Store.layerMemory(example))))

  it.effect("keeps an updatedAt that f set, and writes nothing when f returns the job unchanged", () =>
    Effect.gen(function*() {
      const updated = yield* Job.update("k3x9qa", (job) => ({ ...Job.setStage(job, "testing"), updatedAt: at(7) }))
      expect(updated.updatedAt).toBe(at(7))
      const before = yield* load
      expect(yield* Job.update("k3x9qa", (job) => job)).toBe(before.jobs["k3x9qa"])
      expect(yield* load).toBe(before)
    }).pipe(Effect.provide(Store.layerMemory(example))))

  it.effect("fails with NotFound for a missing id, writing nothing", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Job.update("7f3k2m", Job.setStage("testing")))
      expect(error).toEqual(new NotFound({ kind: "job", key: "7f3k2m" }))
      expect(error.message).toBe(`no job "7f3k2m" in the state`)
      expect(yield* load).toEqual(example)
    }).pipe(Effect.provide(Store.layerMemory(example))))

  it.effect("updateEffect takes the Either edits; a failing edit keeps its type and writes nothing", () =>
    Effect.gen(function*() {
      // w8d4hn's last change was accepted: it has no current change.
      const error = yield* Effect.flip(Job.updateEffect("w8d4hn", Job.appendCommit(Job.makeCommit({ commitId: "c" }))))
      expect(error._tag).toBe("NoCurrentChange")
      expect(yield* load).toEqual(example)
      const updated = yield* Job.updateEffect("k3x9qa", Job.appendCommit(Job.makeCommit({ commitId: "c9" })))
      expect(Schema.currentCommit(updated).pipe(Option.map((c) => c.commitId))).toEqual(Option.some("c9"))
    }).pipe(Effect.provide(Store.layerMemory(example))))

  it("writes through the file store in Go's bytes", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-job-"))
    fs.copyFileSync(exampleStatePath, path.join(dir, "state.json"))
    await Effect.runPromise(
      Job.update("k3x9qa", Job.setStatus("failed", at(6))).pipe(Effect.provide(Store.layerNode({ dir })))
    )
    const written = JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8"))
    expect([written.jobs.k3x9qa.status, written.jobs.k3x9qa.completed_at]).toEqual(["failed", at(6)])
    const original = JSON.parse(fs.readFileSync(exampleStatePath, "utf8"))
    expect({ ...written.jobs, k3x9qa: undefined }).toEqual({ ...original.jobs, k3x9qa: undefined })
  })
})
