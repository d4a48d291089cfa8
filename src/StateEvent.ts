/**
 * What happened between two states, as events: computed by comparing
 * consecutive states record by record. Records the store did not change
 * are the same objects in both states, so an unchanged record costs one
 * identity comparison. Each event is a `Schema.TaggedClass`, so events can
 * be sent as JSON (`encode`) and read back (`decode`).
 *
 * @since 0.1.0
 */
import * as S from "effect/Schema"
import * as Stream from "effect/Stream"
import * as StateSchema from "./Schema.js"
import * as Timestamp from "./Timestamp.js"

const jobFields = { jobId: S.String, repo: S.String }

/**
 * A job appeared.
 *
 * @since 0.1.0
 * @category events
 */
export class JobCreated extends S.TaggedClass<JobCreated>()("JobCreated", {
  ...jobFields,
  todoId: S.String,
  agent: S.String,
  stage: StateSchema.JobStage,
  status: StateSchema.JobStatus
}) {}

/**
 * A job moved to another stage.
 *
 * @since 0.1.0
 * @category events
 */
export class JobStageChanged extends S.TaggedClass<JobStageChanged>()("JobStageChanged", {
  ...jobFields,
  from: StateSchema.JobStage,
  to: StateSchema.JobStage
}) {}

/**
 * A job's status changed (say active to failed).
 *
 * @since 0.1.0
 * @category events
 */
export class JobStatusChanged extends S.TaggedClass<JobStatusChanged>()("JobStatusChanged", {
  ...jobFields,
  from: StateSchema.JobStatus,
  to: StateSchema.JobStatus
}) {}

/**
 * A job created a new jj change.
 *
 * @since 0.1.0
 * @category events
 */
export class ChangeAdded extends S.TaggedClass<ChangeAdded>()("ChangeAdded", {
  ...jobFields,
  changeId: S.String
}) {}

/**
 * A commit (iteration) was recorded on one of a job's changes.
 *
 * @since 0.1.0
 * @category events
 */
export class CommitAdded extends S.TaggedClass<CommitAdded>()("CommitAdded", {
  ...jobFields,
  changeId: S.String,
  commitId: S.String
}) {}

/**
 * Tests ran on a commit: its `tests_passed` was set or changed.
 *
 * @since 0.1.0
 * @category events
 */
export class TestsRecorded extends S.TaggedClass<TestsRecorded>()("TestsRecorded", {
  ...jobFields,
  changeId: S.String,
  commitId: S.String,
  passed: S.Boolean
}) {}

/**
 * A job recorded an opencode session it started, with what the session is for
 * (`implement`, `review`, ...).
 *
 * @since 0.1.0
 * @category events
 */
export class JobSessionAdded extends S.TaggedClass<JobSessionAdded>()("JobSessionAdded", {
  ...jobFields,
  purpose: S.String,
  sessionId: S.String
}) {}

/**
 * A review was recorded: of a commit (`commitId` set) or of the whole job
 * (the project review; `commitId` absent).
 *
 * @since 0.1.0
 * @category events
 */
export class ReviewRecorded extends S.TaggedClass<ReviewRecorded>()("ReviewRecorded", {
  ...jobFields,
  changeId: S.optional(S.String),
  commitId: S.optional(S.String),
  outcome: StateSchema.ReviewOutcome
}) {}

/**
 * A job finished (its completion time was set), with the status it
 * finished in: completed, failed or abandoned.
 *
 * @since 0.1.0
 * @category events
 */
export class JobCompleted extends S.TaggedClass<JobCompleted>()("JobCompleted", {
  ...jobFields,
  status: StateSchema.JobStatus,
  completedAt: Timestamp.Timestamp
}) {}

const workspaceFields = { key: S.String, repo: S.String, name: S.String, path: S.String }

/**
 * A workspace was acquired (created acquired, or moved to acquired).
 *
 * @since 0.1.0
 * @category events
 */
export class WorkspaceAcquired extends S.TaggedClass<WorkspaceAcquired>()("WorkspaceAcquired", {
  ...workspaceFields,
  purpose: S.optional(S.String),
  pid: S.optional(S.Number)
}) {}

/**
 * An acquired workspace was released (moved out of acquired, or removed).
 *
 * @since 0.1.0
 * @category events
 */
export class WorkspaceReleased extends S.TaggedClass<WorkspaceReleased>()("WorkspaceReleased", workspaceFields) {}

const sessionFields = { key: S.String, repo: S.String, sessionId: S.String }

/**
 * An opencode session became active (appeared active, or moved to active).
 *
 * @since 0.1.0
 * @category events
 */
export class SessionStarted extends S.TaggedClass<SessionStarted>()("SessionStarted", sessionFields) {}

/**
 * An active opencode session ended (moved out of active, or removed), with
 * its status and exit code when known.
 *
 * @since 0.1.0
 * @category events
 */
export class SessionEnded extends S.TaggedClass<SessionEnded>()("SessionEnded", {
  ...sessionFields,
  status: S.optional(StateSchema.SessionStatus),
  exitCode: S.optional(S.Number)
}) {}

/**
 * An opencode session's status changed in a way `SessionStarted` and
 * `SessionEnded` do not report: it appeared with a status other than
 * active (`from` absent), or moved between two statuses neither of which
 * is active (say completed to failed).
 *
 * @since 0.1.0
 * @category events
 */
export class SessionStatusChanged extends S.TaggedClass<SessionStatusChanged>()("SessionStatusChanged", {
  ...sessionFields,
  from: S.optional(StateSchema.SessionStatus),
  to: StateSchema.SessionStatus
}) {}

/**
 * A repo was registered.
 *
 * @since 0.1.0
 * @category events
 */
export class RepoAdded extends S.TaggedClass<RepoAdded>()("RepoAdded", {
  name: S.String,
  sourcePath: S.String
}) {}

/**
 * Every event, as one schema.
 *
 * @since 0.1.0
 * @category schemas
 */
export const StateEvent = S.Union(
  JobCreated,
  JobStageChanged,
  JobStatusChanged,
  ChangeAdded,
  CommitAdded,
  TestsRecorded,
  ReviewRecorded,
  JobSessionAdded,
  JobCompleted,
  WorkspaceAcquired,
  WorkspaceReleased,
  SessionStarted,
  SessionEnded,
  SessionStatusChanged,
  RepoAdded
)

/**
 * Any event.
 *
 * @since 0.1.0
 * @category models
 */
export type StateEvent = typeof StateEvent.Type

/**
 * An event as JSON-ready data (`_tag` and fields). Never fails: every
 * event's fields are strings, numbers and known schemas.
 *
 * @since 0.1.0
 * @category codecs
 */
export const encode: (event: StateEvent) => typeof StateEvent.Encoded = S.encodeSync(StateEvent)

/**
 * Reads an event back from JSON-ready data; fails with a `ParseError` for
 * anything that is not one.
 *
 * @since 0.1.0
 * @category codecs
 */
export const decode = S.decodeUnknown(StateEvent)

/**
 * What reports a change of a field: the events that carry it, or why no
 * event does (a key or label every event carries, or bookkeeping nothing
 * waits on).
 *
 * @since 0.1.0
 * @category coverage
 */
export type FieldCoverage = ReadonlyArray<StateEvent["_tag"]> | { readonly none: string }

type CoverageOf<A> = { readonly [K in Exclude<keyof A, "unknownFields">]-?: FieldCoverage }

const carried = { none: "an identifier every event about the record carries" } as const
const bookkeeping = { none: "bookkeeping: a time or detail that changes with the record's other fields" } as const

/**
 * For every field of every record kind, which events report its change.
 * Typed against the record schemas, so a field the state format gains does
 * not compile until it is placed here, and the tests check each entry
 * against `diff`.
 *
 * @since 0.1.0
 * @category coverage
 */
export const fieldEvents: {
  readonly Job: CoverageOf<StateSchema.Job>
  readonly JobChange: CoverageOf<StateSchema.JobChange>
  readonly JobCommit: CoverageOf<StateSchema.JobCommit>
  readonly JobReview: CoverageOf<StateSchema.JobReview>
  readonly JobOpencodeSession: CoverageOf<StateSchema.JobOpencodeSession>
  readonly OpencodeSession: CoverageOf<StateSchema.OpencodeSession>
  readonly WorkspaceInfo: CoverageOf<StateSchema.WorkspaceInfo>
  readonly RepoInfo: CoverageOf<StateSchema.RepoInfo>
} = {
  Job: {
    id: carried,
    repo: carried,
    todoId: ["JobCreated"],
    agent: ["JobCreated"],
    implementationModel: { none: "configuration chosen when the job is made" },
    codeReviewModel: { none: "configuration chosen when the job is made" },
    projectReviewModel: { none: "configuration chosen when the job is made" },
    stage: ["JobCreated", "JobStageChanged"],
    feedback: { none: "the comments of a review that asked for changes, reported by ReviewRecorded" },
    opencodeSessions: ["JobSessionAdded"],
    changes: ["ChangeAdded"],
    projectReview: ["ReviewRecorded"],
    status: ["JobCreated", "JobStatusChanged"],
    createdAt: bookkeeping,
    startedAt: bookkeeping,
    updatedAt: bookkeeping,
    completedAt: ["JobCompleted"]
  },
  JobChange: { changeId: carried, commits: ["CommitAdded"], createdAt: bookkeeping },
  JobCommit: {
    commitId: carried,
    draftMessage: bookkeeping,
    testsPassed: ["TestsRecorded"],
    review: ["ReviewRecorded"],
    opencodeSessionId: bookkeeping,
    createdAt: bookkeeping
  },
  JobReview: { outcome: ["ReviewRecorded"], comments: bookkeeping, opencodeSessionId: bookkeeping, reviewedAt: ["ReviewRecorded"] },
  JobOpencodeSession: { purpose: ["JobSessionAdded"], id: ["JobSessionAdded"] },
  OpencodeSession: {
    id: carried,
    repo: carried,
    status: ["SessionStarted", "SessionEnded", "SessionStatusChanged"],
    createdAt: bookkeeping,
    startedAt: bookkeeping,
    updatedAt: bookkeeping,
    completedAt: bookkeeping,
    exitCode: ["SessionEnded"],
    durationSeconds: bookkeeping,
    logPath: bookkeeping
  },
  WorkspaceInfo: {
    name: carried,
    repo: carried,
    path: carried,
    purpose: ["WorkspaceAcquired"],
    rev: bookkeeping,
    status: ["WorkspaceAcquired", "WorkspaceReleased"],
    acquiredByPid: ["WorkspaceAcquired"],
    createdAt: bookkeeping,
    updatedAt: bookkeeping,
    acquiredAt: ["WorkspaceAcquired"],
    provisioned: { none: "set once when the workspace is first made ready" }
  },
  RepoInfo: { sourcePath: ["RepoAdded"] }
}

/**
 * The job an event is about, if any (for filtering).
 *
 * @since 0.1.0
 * @category accessors
 */
export const jobId = (event: StateEvent): string | undefined => "jobId" in event ? event.jobId : undefined

/**
 * The repo an event is about (every event has one; `RepoAdded`'s is its name).
 *
 * @since 0.1.0
 * @category accessors
 */
export const repo = (event: StateEvent): string => event._tag === "RepoAdded" ? event.name : event.repo

const reviewChanged = (before: StateSchema.JobReview | undefined, after: StateSchema.JobReview | undefined) =>
  after !== undefined && (before === undefined || before.reviewedAt !== after.reviewedAt || before.outcome !== after.outcome)

const diffCommits = (
  base: { readonly jobId: string; readonly repo: string },
  change: StateSchema.JobChange,
  old: StateSchema.JobChange | undefined,
  out: Array<StateEvent>
) => {
  const oldCommits = old?.commits ?? []
  for (const [j, commit] of (change.commits ?? []).entries()) {
    const was = oldCommits[j]?.commitId === commit.commitId ? oldCommits[j] : undefined
    if (was === commit) continue
    const ids = { ...base, changeId: change.changeId, commitId: commit.commitId }
    if (was === undefined) out.push(new CommitAdded(ids))
    if (commit.testsPassed !== undefined && was?.testsPassed !== commit.testsPassed) {
      out.push(new TestsRecorded({ ...ids, passed: commit.testsPassed }))
    }
    if (reviewChanged(was?.review, commit.review)) out.push(new ReviewRecorded({ ...ids, outcome: commit.review!.outcome }))
  }
}

const diffJob = (id: string, before: StateSchema.Job | undefined, after: StateSchema.Job, out: Array<StateEvent>) => {
  const base = { jobId: id, repo: after.repo }
  if (before === undefined) {
    out.push(new JobCreated({ ...base, todoId: after.todoId, agent: after.agent, stage: after.stage, status: after.status }))
  } else {
    if (before.stage !== after.stage) out.push(new JobStageChanged({ ...base, from: before.stage, to: after.stage }))
    if (before.status !== after.status) out.push(new JobStatusChanged({ ...base, from: before.status, to: after.status }))
  }
  // The Go tool only appends to a job's lists, so entries are matched by position and id.
  const oldSessions = before?.opencodeSessions ?? []
  for (const [i, session] of (after.opencodeSessions ?? []).entries()) {
    const old = oldSessions[i]
    if (old === session || (old?.id === session.id && old.purpose === session.purpose)) continue
    out.push(new JobSessionAdded({ ...base, purpose: session.purpose, sessionId: session.id }))
  }
  const oldChanges = before?.changes ?? []
  for (const [i, change] of (after.changes ?? []).entries()) {
    const old = oldChanges[i]?.changeId === change.changeId ? oldChanges[i] : undefined
    if (old === change) continue
    if (old === undefined) out.push(new ChangeAdded({ ...base, changeId: change.changeId }))
    diffCommits(base, change, old, out)
  }
  if (reviewChanged(before?.projectReview, after.projectReview)) {
    out.push(new ReviewRecorded({ ...base, outcome: after.projectReview!.outcome }))
  }
  if (!Timestamp.isZero(after.completedAt) && (before === undefined || Timestamp.isZero(before.completedAt))) {
    out.push(new JobCompleted({ ...base, status: after.status, completedAt: after.completedAt }))
  }
}

const workspaceBase = (key: string, ws: StateSchema.WorkspaceInfo) => ({ key, repo: ws.repo, name: ws.name, path: ws.path })

/**
 * The events that lead from `before` to `after`, jobs first (in key
 * order), then workspaces, sessions and repos. Records that are the same
 * object in both states are skipped without a look inside. Records removed
 * make no event, except an acquired workspace (released) and an active
 * session (ended).
 *
 * @since 0.1.0
 * @category diffing
 */
export const diff = (before: StateSchema.State, after: StateSchema.State): Array<StateEvent> => {
  const out: Array<StateEvent> = []
  if (before === after) return out
  if (before.jobs !== after.jobs) {
    for (const [id, job] of Object.entries(after.jobs)) {
      const old = before.jobs[id]
      if (old !== job) diffJob(id, old, job, out)
    }
  }
  if (before.workspaces !== after.workspaces) {
    for (const [key, ws] of Object.entries(after.workspaces)) {
      const old = before.workspaces[key]
      if (old === ws) continue
      const was = old?.status === "acquired"
      if (ws.status === "acquired" && (!was || old?.acquiredAt !== ws.acquiredAt)) {
        out.push(new WorkspaceAcquired({
          ...workspaceBase(key, ws),
          ...(ws.purpose === undefined ? {} : { purpose: ws.purpose }),
          ...(ws.acquiredByPid === undefined ? {} : { pid: ws.acquiredByPid })
        }))
      } else if (was && ws.status !== "acquired") out.push(new WorkspaceReleased(workspaceBase(key, ws)))
    }
    for (const [key, old] of Object.entries(before.workspaces)) {
      if (!(key in after.workspaces) && old.status === "acquired") out.push(new WorkspaceReleased(workspaceBase(key, old)))
    }
  }
  if (before.opencodeSessions !== after.opencodeSessions) {
    for (const [key, session] of Object.entries(after.opencodeSessions)) {
      const old = before.opencodeSessions[key]
      if (old === session) continue
      const ids = { key, repo: session.repo, sessionId: session.id }
      const was = old?.status === "active"
      if (session.status === "active" && !was) out.push(new SessionStarted(ids))
      else if (was && session.status !== "active") {
        out.push(new SessionEnded({
          ...ids,
          status: session.status,
          ...(session.exitCode === undefined ? {} : { exitCode: session.exitCode })
        }))
      } else if (session.status !== "active" && old?.status !== session.status) {
        out.push(new SessionStatusChanged({ ...ids, ...(old === undefined ? {} : { from: old.status }), to: session.status }))
      }
    }
    for (const [key, old] of Object.entries(before.opencodeSessions)) {
      if (!(key in after.opencodeSessions) && old.status === "active") {
        out.push(new SessionEnded({ key, repo: old.repo, sessionId: old.id }))
      }
    }
  }
  if (before.repos !== after.repos) {
    for (const [name, info] of Object.entries(after.repos)) {
      if (!(name in before.repos)) out.push(new RepoAdded({ name, sourcePath: info.sourcePath }))
    }
  }
  return out
}

/**
 * The events of a stream of states (`StateStore.changes`): the first state
 * is the baseline and makes no events; each later one makes
 * `diff(previous, it)`. Fails as `changes` does. A slow consumer of
 * `changes` is handed the latest state, so writes in quick succession may
 * arrive as one state: their events are then the net difference (a job
 * created and moved on appears as created at its later stage).
 *
 * @since 0.1.0
 * @category streams
 */
export const stream = <E, R>(changes: Stream.Stream<StateSchema.State, E, R>): Stream.Stream<StateEvent, E, R> =>
  changes.pipe(
    Stream.mapAccum(undefined as StateSchema.State | undefined, (previous, state) =>
      [state, previous === undefined ? [] : diff(previous, state)] as const),
    Stream.mapConcat((events) => events)
  )
