/**
 * Jobs: building them with Go's zero values, the edits a job's lifecycle
 * makes (a change, its commits, their reviews, the stage and status), the
 * queries callers reach for, and a store-level update of one job.
 *
 * The constructors (`make`, `makeChange`, `makeCommit`, `makeReview`,
 * `makeOpencodeSession`) throw, as `Schema.Struct(...).make` does: they build
 * records from values written in code, where a bad value is a bug to fix, not
 * a condition to handle, and a throwing constructor can seed a test's state
 * at the top of a file. Data from outside comes in through `Schema.decode`.
 *
 * The edits are pure and dual (`Job.setStage(job, "testing")` or
 * `pipe(job, Job.setStage("testing"))`); those that need a current change or
 * commit return an `Either`, which is also an `Effect`, so they can be
 * handed straight to `Job.updateEffect`.
 *
 * @since 0.2.0
 */
import * as Arr from "effect/Array"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as S from "effect/Schema"
import * as records from "./internal/records.js"
import * as Schema from "./Schema.js"
import type { NotFound, StateError } from "./StateError.js"
import type { StateStore } from "./Store.js"
import * as Timestamp from "./Timestamp.js"

// ---------------------------------------------------------------------------
// Constructors

/**
 * What `make` needs: `id`, `repo` and `todoId`, and any other field of
 * `Schema.Job` to set.
 *
 * @since 0.2.0
 * @category models
 */
export type MakeInput = records.MakeInput<Schema.Job, "id" | "repo" | "todoId">

/**
 * A job with Go's zero values for every field not given: `""` for `agent`,
 * `stage` and `status`, `Timestamp.zero` for every time, and no optional
 * field (no changes, sessions, review, models or feedback). Throws a
 * `ParseError` naming each invalid field (a timestamp that is not a
 * canonical `Timestamp`, a status outside the schema, a field `Schema.Job`
 * does not have).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: (input: MakeInput) => Schema.Job = records.constructor<Schema.Job, "id" | "repo" | "todoId">(Schema.Job, {
  agent: "",
  stage: "",
  status: "",
  createdAt: Timestamp.zero,
  startedAt: Timestamp.zero,
  updatedAt: Timestamp.zero,
  completedAt: Timestamp.zero
})

/**
 * A change with Go's zero values: `createdAt` is `Timestamp.zero` and
 * `commits` is absent (written `null`; `appendChange` makes it `[]`, as the
 * Go tool does). Throws a `ParseError` on an invalid field.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeChange: (input: records.MakeInput<Schema.JobChange, "changeId">) => Schema.JobChange = records
  .constructor<Schema.JobChange, "changeId">(Schema.JobChange, { createdAt: Timestamp.zero })

/**
 * A commit with Go's zero values: `""` for `draftMessage` and
 * `opencodeSessionId`, `createdAt` `Timestamp.zero`, and no `testsPassed`
 * or `review`. Throws a `ParseError` on an invalid field.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeCommit: (input: records.MakeInput<Schema.JobCommit, "commitId">) => Schema.JobCommit = records
  .constructor<Schema.JobCommit, "commitId">(Schema.JobCommit, { draftMessage: "", opencodeSessionId: "", createdAt: Timestamp.zero })

/**
 * A review with Go's zero values: `""` for `opencodeSessionId`,
 * `reviewedAt` `Timestamp.zero`, no `comments`. Throws a `ParseError` on an
 * invalid field.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeReview: (input: records.MakeInput<Schema.JobReview, "outcome">) => Schema.JobReview = records
  .constructor<Schema.JobReview, "outcome">(Schema.JobReview, { opencodeSessionId: "", reviewedAt: Timestamp.zero })

/**
 * An entry of a job's `opencodeSessions` list. Throws a `ParseError` on an
 * invalid field.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeOpencodeSession: (
  input: records.MakeInput<Schema.JobOpencodeSession, "purpose" | "id">
) => Schema.JobOpencodeSession = records.constructor<
  Schema.JobOpencodeSession,
  "purpose" | "id"
>(Schema.JobOpencodeSession, {})

// ---------------------------------------------------------------------------
// Errors

/**
 * The job has no current change to add a commit to: it has no changes, or
 * its last change is complete (its last commit was accepted). Append a
 * change first.
 *
 * @since 0.2.0
 * @category errors
 */
export class NoCurrentChange extends S.TaggedError<NoCurrentChange>("@incrementum/state/NoCurrentChange")(
  "NoCurrentChange",
  { jobId: S.String }
) {
  override get message(): string {
    return `job ${JSON.stringify(this.jobId)} has no current change (no changes, or the last one is complete)`
  }
}

/**
 * The job has no current commit to update: no current change (see
 * `NoCurrentChange`), or a current change with no commits yet.
 *
 * @since 0.2.0
 * @category errors
 */
export class NoCurrentCommit extends S.TaggedError<NoCurrentCommit>("@incrementum/state/NoCurrentCommit")(
  "NoCurrentCommit",
  { jobId: S.String }
) {
  override get message(): string {
    return `job ${JSON.stringify(this.jobId)} has no current commit (no current change, or it has no commits)`
  }
}

// ---------------------------------------------------------------------------
// Edits

/**
 * Appends `change` to the job's changes, as the Go tool's `AppendChange`
 * does: a change whose `commits` is absent gets `[]`. Whatever the last
 * change was, the new one is now the current change.
 *
 * @since 0.2.0
 * @category edits
 */
export const appendChange: {
  (change: Schema.JobChange): (job: Schema.Job) => Schema.Job
  (job: Schema.Job, change: Schema.JobChange): Schema.Job
} = dual(2, (job: Schema.Job, change: Schema.JobChange): Schema.Job => ({
  ...job,
  changes: [...(job.changes ?? []), change.commits === undefined ? { ...change, commits: [] } : change]
}))

/** The job with its last change replaced by `f(change)`, if that change is current. */
const modifyCurrentChange = <E>(
  job: Schema.Job,
  f: (change: Schema.JobChange) => Either.Either<Schema.JobChange, E>,
  none: () => E
): Either.Either<Schema.Job, E> => {
  const changes = job.changes
  if (changes === undefined || Option.isNone(Schema.currentChange(job))) return Either.left(none())
  return Either.map(f(Arr.lastNonEmpty(changes)), (change) => ({
    ...job,
    changes: Arr.modifyNonEmptyLast(changes, () => change)
  }))
}

/**
 * Appends `commit` to the job's current change (see
 * `Schema.currentChange`). Fails with `NoCurrentChange` when the job has no
 * changes or its last change is complete, as the Go tool's
 * `AppendCommitToCurrentChange` does.
 *
 * @since 0.2.0
 * @category edits
 */
export const appendCommit: {
  (commit: Schema.JobCommit): (job: Schema.Job) => Either.Either<Schema.Job, NoCurrentChange>
  (job: Schema.Job, commit: Schema.JobCommit): Either.Either<Schema.Job, NoCurrentChange>
} = dual(2, (job: Schema.Job, commit: Schema.JobCommit): Either.Either<Schema.Job, NoCurrentChange> =>
  modifyCurrentChange(
    job,
    (change) => Either.right({ ...change, commits: [...(change.commits ?? []), commit] }),
    () => new NoCurrentChange({ jobId: job.id })
  ))

/** The job with its current commit replaced by `f(commit)`. */
const modifyCurrentCommit = (
  job: Schema.Job,
  f: (commit: Schema.JobCommit) => Schema.JobCommit
): Either.Either<Schema.Job, NoCurrentCommit> => {
  const none = () => new NoCurrentCommit({ jobId: job.id })
  return modifyCurrentChange(job, (change) => {
    const commits = change.commits ?? []
    const last = commits.length - 1
    return last < 0
      ? Either.left(none())
      : Either.right({ ...change, commits: [...commits.slice(0, last), f(commits[last]!)] })
  }, none)
}

/**
 * Records `review` on the job's current commit (see `Schema.currentCommit`),
 * replacing any review it had. An `ACCEPT` completes the change, so the job
 * then has no current change until the next `appendChange`. Fails with
 * `NoCurrentCommit` when there is no current change or it has no commits.
 *
 * @since 0.2.0
 * @category edits
 */
export const recordReview: {
  (review: Schema.JobReview): (job: Schema.Job) => Either.Either<Schema.Job, NoCurrentCommit>
  (job: Schema.Job, review: Schema.JobReview): Either.Either<Schema.Job, NoCurrentCommit>
} = dual(
  2,
  (job: Schema.Job, review: Schema.JobReview): Either.Either<Schema.Job, NoCurrentCommit> =>
    modifyCurrentCommit(job, (commit) => ({ ...commit, review }))
)

/**
 * Records whether the tests passed on the job's current commit. Fails with
 * `NoCurrentCommit` when there is no current change or it has no commits.
 *
 * @since 0.2.0
 * @category edits
 */
export const setTestsPassed: {
  (passed: boolean): (job: Schema.Job) => Either.Either<Schema.Job, NoCurrentCommit>
  (job: Schema.Job, passed: boolean): Either.Either<Schema.Job, NoCurrentCommit>
} = dual(
  2,
  (job: Schema.Job, passed: boolean): Either.Either<Schema.Job, NoCurrentCommit> =>
    modifyCurrentCommit(job, (commit) => ({ ...commit, testsPassed: passed }))
)

/**
 * Sets the job's final project review.
 *
 * @since 0.2.0
 * @category edits
 */
export const setProjectReview: {
  (review: Schema.JobReview): (job: Schema.Job) => Schema.Job
  (job: Schema.Job, review: Schema.JobReview): Schema.Job
} = dual(2, (job: Schema.Job, review: Schema.JobReview): Schema.Job => ({ ...job, projectReview: review }))

/**
 * Appends an entry to the job's list of opencode sessions.
 *
 * @since 0.2.0
 * @category edits
 */
export const appendOpencodeSession: {
  (session: Schema.JobOpencodeSession): (job: Schema.Job) => Schema.Job
  (job: Schema.Job, session: Schema.JobOpencodeSession): Schema.Job
} = dual(2, (job: Schema.Job, session: Schema.JobOpencodeSession): Schema.Job => ({
  ...job,
  opencodeSessions: [...(job.opencodeSessions ?? []), session]
}))

/**
 * Moves the job to `stage`.
 *
 * @since 0.2.0
 * @category edits
 */
export const setStage: {
  (stage: Schema.JobStage): (job: Schema.Job) => Schema.Job
  (job: Schema.Job, stage: Schema.JobStage): Schema.Job
} = dual(2, (job: Schema.Job, stage: Schema.JobStage): Schema.Job => ({ ...job, stage }))

/**
 * Sets the job's status, and, for any status other than `active`, its
 * `completedAt` to `at`, as the Go tool does when a job ends (completed,
 * failed or abandoned).
 *
 * @since 0.2.0
 * @category edits
 */
export const setStatus: {
  (status: Schema.JobStatus, at: Timestamp.Timestamp): (job: Schema.Job) => Schema.Job
  (job: Schema.Job, status: Schema.JobStatus, at: Timestamp.Timestamp): Schema.Job
} = dual(
  3,
  (job: Schema.Job, status: Schema.JobStatus, at: Timestamp.Timestamp): Schema.Job =>
    status === "active" ? { ...job, status } : { ...job, status, completedAt: at }
)

// ---------------------------------------------------------------------------
// Reading and writing a state

/**
 * The job with id `id`, if the state has one.
 *
 * @since 0.2.0
 * @category getters
 */
export const get: {
  (id: string): (state: Schema.State) => Option.Option<Schema.Job>
  (state: Schema.State, id: string): Option.Option<Schema.Job>
} = dual(2, (state: Schema.State, id: string) => records.get(state, "jobs", id))

/**
 * The state with `job` stored under its id, replacing any job of that id.
 * For building states (a test's seed, say); `update` edits a stored job.
 *
 * @since 0.2.0
 * @category combinators
 */
export const put: {
  (job: Schema.Job): (state: Schema.State) => Schema.State
  (state: Schema.State, job: Schema.Job): Schema.State
} = dual(2, (state: Schema.State, job: Schema.Job) => records.put(state, "jobs", job.id, job))

/** Go's listing order: oldest `startedAt` first, then by id. */
const byStart = (a: Schema.Job, b: Schema.Job): number =>
  Timestamp.Order(a.startedAt, b.startedAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

const select = (state: Schema.State, keep: (job: Schema.Job) => boolean): Array<Schema.Job> =>
  Object.values(state.jobs).filter(keep).sort(byStart)

/**
 * The jobs with status `status`, oldest `startedAt` first (then by id), the
 * order the Go tool lists them in.
 *
 * @since 0.2.0
 * @category queries
 */
export const byStatus: {
  (status: Schema.JobStatus): (state: Schema.State) => Array<Schema.Job>
  (state: Schema.State, status: Schema.JobStatus): Array<Schema.Job>
} = dual(2, (state: Schema.State, status: Schema.JobStatus) => select(state, (job) => job.status === status))

/**
 * The jobs of repo `repo` (its name in `state.repos`), oldest `startedAt`
 * first (then by id).
 *
 * @since 0.2.0
 * @category queries
 */
export const byRepo: {
  (repo: string): (state: Schema.State) => Array<Schema.Job>
  (state: Schema.State, repo: string): Array<Schema.Job>
} = dual(2, (state: Schema.State, repo: string) => select(state, (job) => job.repo === repo))

/**
 * The active job working on todo `todoId`: the one with status `active`, or
 * the most recently started if (against the Go tool's habits) there are
 * several.
 *
 * @since 0.2.0
 * @category queries
 */
export const activeForTodo: {
  (todoId: string): (state: Schema.State) => Option.Option<Schema.Job>
  (state: Schema.State, todoId: string): Option.Option<Schema.Job>
} = dual(
  2,
  (state: Schema.State, todoId: string) =>
    Option.fromNullable(select(state, (job) => job.todoId === todoId && job.status === "active").at(-1))
)

// ---------------------------------------------------------------------------
// The store

/**
 * Updates the job with id `id` in one `StateStore.modifyRecord` (under the state
 * file's lock) and returns it as written. `updatedAt` is set to
 * `Timestamp.now` when `f` changed the job but not its `updatedAt`, as every
 * edit of the Go tool does; when `f` returns the job it was given nothing is
 * written. Fails with `NotFound` (writing nothing) when there is no such
 * job, or with the store's `StateError`. `f` must keep the job's `id`.
 *
 * @since 0.2.0
 * @category store
 */
export const update = (
  id: string,
  f: (job: Schema.Job) => Schema.Job
): Effect.Effect<Schema.Job, NotFound | StateError, StateStore> =>
  records.updateEffect("jobs", id, (job) => Effect.sync(() => f(job))).pipe(Effect.withSpan("Job.update"))

/**
 * `update` with an effectful `f`, such as an edit that returns an `Either`
 * (`Job.updateEffect(id, Job.appendCommit(commit))`). When `f` fails, nothing
 * is written and its error comes out with its own type.
 *
 * @since 0.2.0
 * @category store
 */
export const updateEffect = <E, R>(
  id: string,
  f: (job: Schema.Job) => Effect.Effect<Schema.Job, E, R>
): Effect.Effect<Schema.Job, E | NotFound | StateError, R | StateStore> =>
  records.updateEffect("jobs", id, f).pipe(Effect.withSpan("Job.updateEffect"))
