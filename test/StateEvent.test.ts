import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as Schema from "../src/Schema.js"
import * as StateEvent from "../src/StateEvent.js"
import * as Store from "../src/Store.js"
import * as Timestamp from "../src/Timestamp.js"

const t = (s: string) => Timestamp.parse(s).pipe((o) => o._tag === "Some" ? o.value : Timestamp.zero)

const job: Schema.Job = {
  id: "job-1",
  repo: "r",
  todoId: "todo-1",
  agent: "opencode",
  stage: "implementing",
  status: "active",
  createdAt: t("2026-01-01T00:00:00Z"),
  startedAt: t("2026-01-01T00:00:00Z"),
  updatedAt: t("2026-01-01T00:00:00Z"),
  completedAt: Timestamp.zero
}

const workspace: Schema.WorkspaceInfo = {
  name: "ws1",
  repo: "r",
  path: "/ws/ws1",
  status: "available",
  createdAt: Timestamp.zero,
  updatedAt: Timestamp.zero,
  acquiredAt: Timestamp.zero,
  provisioned: true
}

const session: Schema.OpencodeSession = {
  id: "s1",
  repo: "r",
  status: "active",
  createdAt: Timestamp.zero,
  startedAt: Timestamp.zero,
  updatedAt: Timestamp.zero,
  completedAt: Timestamp.zero
}

const withJob = (state: Schema.State, j: Schema.Job): Schema.State => ({ ...state, jobs: { ...state.jobs, [j.id]: j } })
const stageOf = (e: StateEvent.JobCreated | StateEvent.JobStageChanged) => e._tag === "JobCreated" ? e.stage : e.to
const tags = (events: ReadonlyArray<StateEvent.StateEvent>) => events.map((e) => e._tag)

describe("StateEvent.diff", () => {
  it("the same state, or states whose records are the same objects, make no events", () => {
    const state = withJob(Schema.empty, job)
    expect(StateEvent.diff(state, state)).toEqual([])
    expect(StateEvent.diff(state, { ...state, unknownFields: { x: 1 } })).toEqual([])
  })

  it("a job's life: created, change and commit added, review, stage and status changed, completed", () => {
    const s0 = Schema.empty
    const s1 = withJob(s0, job)
    expect(StateEvent.diff(s0, s1)).toEqual([
      new StateEvent.JobCreated({ jobId: "job-1", repo: "r", todoId: "todo-1", agent: "opencode", stage: "implementing", status: "active" })
    ])
    const commit: Schema.JobCommit = { commitId: "c1", draftMessage: "m", opencodeSessionId: "s1", createdAt: Timestamp.zero }
    const change: Schema.JobChange = { changeId: "ch1", commits: [commit], createdAt: Timestamp.zero }
    const s2 = withJob(s1, { ...job, changes: [change], stage: "testing" })
    expect(StateEvent.diff(s1, s2)).toEqual([
      new StateEvent.JobStageChanged({ jobId: "job-1", repo: "r", from: "implementing", to: "testing" }),
      new StateEvent.ChangeAdded({ jobId: "job-1", repo: "r", changeId: "ch1" }),
      new StateEvent.CommitAdded({ jobId: "job-1", repo: "r", changeId: "ch1", commitId: "c1" })
    ])
    const reviewed: Schema.JobCommit = {
      ...commit,
      review: { outcome: "ACCEPT", opencodeSessionId: "s2", reviewedAt: t("2026-01-02T00:00:00Z") }
    }
    const s3 = withJob(s2, {
      ...job,
      stage: "testing",
      changes: [{ ...change, commits: [reviewed, { ...commit, commitId: "c2" }] }]
    })
    expect(tags(StateEvent.diff(s2, s3))).toEqual(["ReviewRecorded", "CommitAdded"])
    const done = t("2026-01-03T00:00:00Z")
    const s4 = withJob(s3, { ...s3.jobs["job-1"]!, status: "completed", completedAt: done })
    expect(StateEvent.diff(s3, s4)).toEqual([
      new StateEvent.JobStatusChanged({ jobId: "job-1", repo: "r", from: "active", to: "completed" }),
      new StateEvent.JobCompleted({ jobId: "job-1", repo: "r", status: "completed", completedAt: done })
    ])
    // Seen once: completing again (same completion time) is no event.
    expect(StateEvent.diff(s4, withJob(s4, { ...s4.jobs["job-1"]! }))).toEqual([])
  })

  it("workspaces, sessions and repos", () => {
    const s0: Schema.State = { ...Schema.empty, workspaces: { "r/ws1": workspace } }
    const acquired = { ...workspace, status: "acquired" as const, acquiredByPid: 42, acquiredAt: t("2026-01-01T00:00:00Z") }
    const s1: Schema.State = {
      ...s0,
      workspaces: { "r/ws1": acquired },
      opencodeSessions: { "r/s1": session },
      repos: { r: { sourcePath: "/src/r" } }
    }
    expect(StateEvent.diff(s0, s1)).toEqual([
      new StateEvent.WorkspaceAcquired({ key: "r/ws1", repo: "r", name: "ws1", path: "/ws/ws1", pid: 42 }),
      new StateEvent.SessionStarted({ key: "r/s1", repo: "r", sessionId: "s1" }),
      new StateEvent.RepoAdded({ name: "r", sourcePath: "/src/r" })
    ])
    const s2: Schema.State = {
      ...s1,
      workspaces: { "r/ws1": { ...acquired, status: "available" } },
      opencodeSessions: { "r/s1": { ...session, status: "failed", exitCode: 1 } }
    }
    expect(StateEvent.diff(s1, s2)).toEqual([
      new StateEvent.WorkspaceReleased({ key: "r/ws1", repo: "r", name: "ws1", path: "/ws/ws1" }),
      new StateEvent.SessionEnded({ key: "r/s1", repo: "r", sessionId: "s1", status: "failed", exitCode: 1 })
    ])
    // Removed while held: released, ended.
    expect(tags(StateEvent.diff(s1, Schema.empty))).toEqual(["WorkspaceReleased", "SessionEnded"])
  })

  it("events encode to JSON and decode back to equal events", () =>
    Effect.gen(function*() {
      const events = StateEvent.diff(Schema.empty, withJob(Schema.empty, { ...job, stage: "someday" as Schema.JobStage }))
      const json = JSON.parse(JSON.stringify(events.map(StateEvent.encode)))
      expect(json[0]).toMatchObject({ _tag: "JobCreated", jobId: "job-1", stage: "someday" })
      expect(yield* StateEvent.decode(json[0])).toEqual(events[0])
    }).pipe(Effect.runSync))
})

describe("StateEvent.fieldEvents", () => {
  const recordSchemas = {
    Job: Schema.Job,
    JobChange: Schema.JobChange,
    JobCommit: Schema.JobCommit,
    JobReview: Schema.JobReview,
    JobOpencodeSession: Schema.JobOpencodeSession,
    OpencodeSession: Schema.OpencodeSession,
    WorkspaceInfo: Schema.WorkspaceInfo,
    RepoInfo: Schema.RepoInfo
  } as const

  it("places every field of every record schema, and nothing else", () => {
    for (const [kind, schema] of Object.entries(recordSchemas)) {
      const fields = Object.keys(schema.fields).filter((name) => name !== "unknownFields").sort()
      expect([kind, Object.keys(StateEvent.fieldEvents[kind as keyof typeof recordSchemas]).sort()]).toEqual([kind, fields])
    }
  })

  // One state before, and one with only the named field changed, for every field `fieldEvents` says an event reports.
  const commit: Schema.JobCommit = { commitId: "c1", draftMessage: "m", opencodeSessionId: "s1", createdAt: Timestamp.zero }
  const review: Schema.JobReview = { outcome: "REQUEST_CHANGES", opencodeSessionId: "s2", reviewedAt: t("2026-01-02T00:00:00Z") }
  const change: Schema.JobChange = { changeId: "ch1", commits: [commit], createdAt: Timestamp.zero }
  const fullJob: Schema.Job = { ...job, changes: [change], opencodeSessions: [{ purpose: "implement", id: "s1" }] }
  const base: Schema.State = {
    ...withJob(Schema.empty, fullJob),
    workspaces: { "r/ws1": workspace },
    opencodeSessions: { "r/s1": { ...session, status: "completed" } }
  }
  const jobWith = (patch: Partial<Schema.Job>): Schema.State => withJob(base, { ...fullJob, ...patch })
  const { opencodeSessions: _, ...jobWithoutSessions } = fullJob
  const noJobSessions = withJob(base, jobWithoutSessions)
  const commitWith = (patch: Partial<Schema.JobCommit>) => jobWith({ changes: [{ ...change, commits: [{ ...commit, ...patch }] }] })
  const sessionWith = (patch: Partial<Schema.OpencodeSession>): Schema.State => ({
    ...base,
    opencodeSessions: { "r/s1": { ...session, status: "completed", ...patch } }
  })
  const acquired = (patch: Partial<Schema.WorkspaceInfo>): Schema.State => ({
    ...base,
    workspaces: { "r/ws1": { ...workspace, status: "acquired", ...patch } }
  })
  const cases: Record<string, readonly [Schema.State, Schema.State]> = {
    "Job.todoId": [Schema.empty, base],
    "Job.agent": [Schema.empty, base],
    "Job.stage": [base, jobWith({ stage: "testing" })],
    "Job.opencodeSessions": [base, jobWith({ opencodeSessions: [...fullJob.opencodeSessions!, { purpose: "review", id: "s2" }] })],
    "Job.changes": [base, jobWith({ changes: [change, { changeId: "ch2", createdAt: Timestamp.zero }] })],
    "Job.projectReview": [base, jobWith({ projectReview: review })],
    "Job.status": [base, jobWith({ status: "failed" })],
    "Job.completedAt": [base, jobWith({ completedAt: t("2026-01-03T00:00:00Z") })],
    "JobChange.commits": [base, jobWith({ changes: [{ ...change, commits: [commit, { ...commit, commitId: "c2" }] }] })],
    "JobCommit.testsPassed": [commitWith({ testsPassed: false }), commitWith({ testsPassed: true })],
    "JobCommit.review": [base, commitWith({ review })],
    "JobReview.outcome": [commitWith({ review }), commitWith({ review: { ...review, outcome: "ACCEPT" } })],
    "JobReview.reviewedAt": [commitWith({ review }), commitWith({ review: { ...review, reviewedAt: t("2026-01-04T00:00:00Z") } })],
    "JobOpencodeSession.purpose": [noJobSessions, base],
    "JobOpencodeSession.id": [base, jobWith({ opencodeSessions: [{ purpose: "implement", id: "s9" }] })],
    "OpencodeSession.status": [base, sessionWith({ status: "failed" })],
    "OpencodeSession.exitCode": [sessionWith({ status: "active" }), sessionWith({ exitCode: 3 })],
    "WorkspaceInfo.purpose": [base, acquired({ purpose: "review" })],
    "WorkspaceInfo.status": [base, acquired({})],
    "WorkspaceInfo.acquiredByPid": [base, acquired({ acquiredByPid: 7 })],
    "WorkspaceInfo.acquiredAt": [acquired({}), acquired({ acquiredAt: t("2026-01-05T00:00:00Z") })],
    "RepoInfo.sourcePath": [base, { ...base, repos: { r: { sourcePath: "/src/r" } } }]
  }
  const reported = Object.entries(StateEvent.fieldEvents).flatMap(([kind, fields]) =>
    Object.entries(fields as Record<string, StateEvent.FieldCoverage>).flatMap(([name, coverage]) =>
      "none" in coverage ? [] : [[`${kind}.${name}`, coverage] as const]
    )
  )

  it("has a case below for every field an event reports", () => {
    expect(reported.map(([name]) => name).filter((name) => !(name in cases))).toEqual([])
  })

  it.each(reported)("a change of %s makes an event it names", (name, coverage) => {
    const [before, after] = cases[name]!
    const made = tags(StateEvent.diff(before, after))
    expect([name, made.some((tag) => coverage.includes(tag))]).toEqual([name, true])
  })

  it("tests run, a job's session and a session's status outside active each make their own event", () => {
    expect(StateEvent.diff(commitWith({}), commitWith({ testsPassed: true }))).toEqual([
      new StateEvent.TestsRecorded({ jobId: "job-1", repo: "r", changeId: "ch1", commitId: "c1", passed: true })
    ])
    // Unchanged on a later write: no repeat.
    expect(StateEvent.diff(commitWith({ testsPassed: true }), commitWith({ testsPassed: true }))).toEqual([])
    expect(StateEvent.diff(noJobSessions, base)).toEqual([
      new StateEvent.JobSessionAdded({ jobId: "job-1", repo: "r", purpose: "implement", sessionId: "s1" })
    ])
    expect(StateEvent.diff({ ...base, opencodeSessions: {} }, base)).toEqual([
      new StateEvent.SessionStatusChanged({ key: "r/s1", repo: "r", sessionId: "s1", to: "completed" })
    ])
    expect(StateEvent.diff(base, sessionWith({ status: "failed" }))).toEqual([
      new StateEvent.SessionStatusChanged({ key: "r/s1", repo: "r", sessionId: "s1", from: "completed", to: "failed" })
    ])
    // Into and out of active stay SessionStarted and SessionEnded alone.
    expect(tags(StateEvent.diff(base, sessionWith({ status: "active" })))).toEqual(["SessionStarted"])
  })
})

describe("StateEvent.stream", () => {
  it.effect("the first state is the baseline; the writes' events follow, from the memory store", () =>
    Effect.gen(function*() {
      const store = yield* Store.StateStore
      const started = yield* Deferred.make<void>()
      const fiber = yield* store.changes.pipe(
        Stream.tap(() => Deferred.succeed(started, undefined)),
        StateEvent.stream,
        // Two writes in a row may reach a slow consumer as one state: then the job is created at its later stage.
        Stream.takeUntil((e) => (e._tag === "JobCreated" || e._tag === "JobStageChanged") && stageOf(e) === "reviewing"),
        Stream.runCollect,
        Effect.map(Chunk.toArray),
        Effect.fork
      )
      yield* Deferred.await(started)
      yield* store.update((state) => withJob(state, job))
      yield* store.update((state) => withJob(state, { ...job, stage: "reviewing" }))
      const events = yield* Fiber.join(fiber)
      expect(events[0]?._tag).toBe("JobCreated")
      expect(events.length).toBeLessThanOrEqual(2)
    }).pipe(Effect.scoped, Effect.provide(Store.layerMemory())))
})
