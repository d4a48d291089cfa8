/**
 * The state file's data model and its codec.
 *
 * The schemas below describe the decoded state: immutable plain data with
 * camelCase fields, readonly records for the maps and literal unions for the
 * enums. `decode` and `encode` convert between that state and the exact
 * bytes the Go `ii` tool reads and writes (see `spec/state-file.md`); they
 * are hand-written for speed and checked against these schemas and against
 * the Go tool's golden vectors in the tests.
 *
 * Every record may carry `unknownFields`: keys this version does not know
 * (written by a newer tool), kept as read and written back after the known
 * fields, so a read-modify-write never drops them.
 *
 * @since 0.1.0
 */
import type { LazyArbitrary } from "effect/Arbitrary"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as S from "effect/Schema"
import * as codec from "./internal/codec.js"
import type { CorruptStateFile } from "./StateError.js"
import * as Timestamp from "./Timestamp.js"

// ---------------------------------------------------------------------------
// Building blocks

/**
 * A JSON value kept verbatim from a key this version does not know. Numbers
 * are JavaScript numbers; an integer beyond ±(2^53−1) is refused at decode
 * rather than rounded.
 *
 * @since 0.1.0
 * @category models
 */
export type JsonValue = null | boolean | number | string | ReadonlyArray<JsonValue> | {
  readonly [key: string]: JsonValue
}

/** Small JSON values; numbers are ones JSON round-trips exactly (no -0, no unsafe integers). */
const jsonValueArbitrary: LazyArbitrary<JsonValue> = (fc) =>
  fc.letrec<{ value: JsonValue }>((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constant(null),
      fc.boolean(),
      fc.integer(),
      fc.integer().map((n) => n / 8),
      fc.string(),
      fc.array(tie("value"), { maxLength: 3 }),
      fc.dictionary(fc.string(), tie("value"), { maxKeys: 3 })
    )
  })).value

/**
 * The schema of `JsonValue`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonValue: S.Schema<JsonValue> = S.suspend(() =>
  S.Union(
    S.Null,
    S.Boolean,
    S.Number.pipe(S.filter((n) => Number.isFinite(n) && (!Number.isInteger(n) || Number.isSafeInteger(n)))),
    S.String,
    S.Array(JsonValue),
    S.Record({ key: S.String, value: JsonValue })
  )
).annotations({
  identifier: "JsonValue",
  arbitrary: () => jsonValueArbitrary
})

/**
 * Keys a record had in the file that this version does not know, in the
 * order read, with their values.
 *
 * @since 0.1.0
 * @category models
 */
export type UnknownFields = { readonly [key: string]: JsonValue }

const unknownFields = (known: ReadonlyArray<string>) =>
  S.optional(
    S.Record({ key: S.String, value: JsonValue }).annotations({
      arbitrary: () => (fc) =>
        // Generated keys must not collide with known ones, or they would be
        // decoded as those fields.
        fc.dictionary(
          fc.string().map((s) => "x-" + s).filter((k) => !known.includes(k)),
          jsonValueArbitrary(fc),
          { minKeys: 1, maxKeys: 3 }
        )
    })
  )

/** An int in the range JavaScript numbers hold exactly. */
const SafeInt = S.Number.pipe(
  S.filter(Number.isSafeInteger, { message: () => "an integer within ±(2^53−1)" }),
  S.annotations({ arbitrary: () => (fc) => fc.oneof(fc.integer(), fc.maxSafeInteger()) })
)
const NonZeroSafeInt = SafeInt.pipe(S.filter((n) => n !== 0))
const NonEmpty = S.String.pipe(S.minLength(1))

// ---------------------------------------------------------------------------
// Enums. "" is Go's zero value: a record written with no status at all.

/**
 * The schema of `WorkspaceStatus`: the values Go writes, plus `""` (its zero value).
 * Any other string is refused at decode.
 *
 * @since 0.1.0
 * @category schemas
 */
export const WorkspaceStatus = S.Literal("available", "acquired", "")
/**
 * `available` or `acquired`; `""` when the file had none.
 *
 * @since 0.1.0
 * @category models
 */
export type WorkspaceStatus = typeof WorkspaceStatus.Type

/**
 * The schema of `SessionStatus`: the values Go writes, plus `""` (its zero value).
 * Any other string is refused at decode.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SessionStatus = S.Literal("active", "completed", "failed", "killed", "")
/**
 * An opencode session's status; `""` when the file had none.
 *
 * @since 0.1.0
 * @category models
 */
export type SessionStatus = typeof SessionStatus.Type

/**
 * The schema of `JobStage`: the values Go writes, plus `""` (its zero value).
 * Any other string is refused at decode.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JobStage = S.Literal("implementing", "testing", "reviewing", "committing", "")
/**
 * Where a job is in its implement, test, review, commit loop; `""` when the
 * file had none.
 *
 * @since 0.1.0
 * @category models
 */
export type JobStage = typeof JobStage.Type

/**
 * The schema of `JobStatus`: the values Go writes, plus `""` (its zero value).
 * Any other string is refused at decode.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JobStatus = S.Literal("active", "completed", "failed", "abandoned", "")
/**
 * A job's status; `""` when the file had none.
 *
 * @since 0.1.0
 * @category models
 */
export type JobStatus = typeof JobStatus.Type

/**
 * The schema of `ReviewOutcome`: the values Go writes, plus `""` (its zero value).
 * Any other string is refused at decode.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReviewOutcome = S.Literal("ACCEPT", "REQUEST_CHANGES", "ABANDON", "")
/**
 * A review's verdict; `""` when the file had none.
 *
 * @since 0.1.0
 * @category models
 */
export type ReviewOutcome = typeof ReviewOutcome.Type

// ---------------------------------------------------------------------------
// Records. Field order is the order the Go tool writes them.

/**
 * `repos` entry: where a repo's source lives.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RepoInfo = S.Struct({
  sourcePath: S.String,
  unknownFields: unknownFields(["source_path"])
}).annotations({ identifier: "RepoInfo" })
/**
 * The decoded `RepoInfo` (see the schema of the same name).
 *
 * @since 0.1.0
 * @category models
 */
export interface RepoInfo extends S.Schema.Type<typeof RepoInfo> {}

/**
 * `workspaces` entry, keyed `"<repo>/<workspace name>"`. Optional fields are
 * absent rather than empty: Go omits `""` and `0` for them, so an empty
 * value could not survive a round trip.
 *
 * @since 0.1.0
 * @category schemas
 */
export const WorkspaceInfo = S.Struct({
  name: S.String,
  repo: S.String,
  path: S.String,
  purpose: S.optional(NonEmpty),
  rev: S.optional(NonEmpty),
  status: WorkspaceStatus,
  acquiredByPid: S.optional(NonZeroSafeInt),
  createdAt: Timestamp.Timestamp,
  updatedAt: Timestamp.Timestamp,
  acquiredAt: Timestamp.Timestamp,
  provisioned: S.Boolean,
  unknownFields: unknownFields([
    "name",
    "repo",
    "path",
    "purpose",
    "rev",
    "status",
    "acquired_by_pid",
    "created_at",
    "updated_at",
    "acquired_at",
    "provisioned"
  ])
}).annotations({ identifier: "WorkspaceInfo" })
/**
 * The decoded `WorkspaceInfo` (see the schema of the same name).
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkspaceInfo extends S.Schema.Type<typeof WorkspaceInfo> {}

/**
 * `opencode_sessions` entry, keyed `"<repo>/<session id>"`. `exitCode` is
 * present whenever it was set, 0 included.
 *
 * @since 0.1.0
 * @category schemas
 */
export const OpencodeSession = S.Struct({
  id: S.String,
  repo: S.String,
  status: SessionStatus,
  createdAt: Timestamp.Timestamp,
  startedAt: Timestamp.Timestamp,
  updatedAt: Timestamp.Timestamp,
  completedAt: Timestamp.Timestamp,
  exitCode: S.optional(SafeInt),
  durationSeconds: S.optional(NonZeroSafeInt),
  logPath: S.optional(NonEmpty),
  unknownFields: unknownFields([
    "id",
    "repo",
    "status",
    "created_at",
    "started_at",
    "updated_at",
    "completed_at",
    "exit_code",
    "duration_seconds",
    "log_path",
    "prompt"
  ])
}).annotations({ identifier: "OpencodeSession" })
/**
 * The decoded `OpencodeSession` (see the schema of the same name).
 *
 * @since 0.1.0
 * @category models
 */
export interface OpencodeSession extends S.Schema.Type<typeof OpencodeSession> {}

/**
 * A review of a commit or of a whole job.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JobReview = S.Struct({
  outcome: ReviewOutcome,
  comments: S.optional(NonEmpty),
  opencodeSessionId: S.String,
  reviewedAt: Timestamp.Timestamp,
  unknownFields: unknownFields(["outcome", "comments", "opencode_session_id", "reviewed_at"])
}).annotations({ identifier: "JobReview" })
/**
 * The decoded `JobReview` (see the schema of the same name).
 *
 * @since 0.1.0
 * @category models
 */
export interface JobReview extends S.Schema.Type<typeof JobReview> {}

/**
 * One commit made while working on a change. `testsPassed` is present
 * whenever it was set, `false` included.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JobCommit = S.Struct({
  commitId: S.String,
  draftMessage: S.String,
  testsPassed: S.optional(S.Boolean),
  review: S.optional(JobReview),
  opencodeSessionId: S.String,
  createdAt: Timestamp.Timestamp,
  unknownFields: unknownFields([
    "commit_id",
    "draft_message",
    "tests_passed",
    "review",
    "opencode_session_id",
    "created_at"
  ])
}).annotations({ identifier: "JobCommit" })
/**
 * The decoded `JobCommit` (see the schema of the same name).
 *
 * @since 0.1.0
 * @category models
 */
export interface JobCommit extends S.Schema.Type<typeof JobCommit> {}

/**
 * A jj change a job created, with every commit (iteration) made on it.
 * `commits` absent means "never set" and is written `null`; an empty array
 * is written `[]`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JobChange = S.Struct({
  changeId: S.String,
  commits: S.optional(S.Array(JobCommit)),
  createdAt: Timestamp.Timestamp,
  unknownFields: unknownFields(["change_id", "commits", "created_at"])
}).annotations({ identifier: "JobChange" })
/**
 * The decoded `JobChange` (see the schema of the same name).
 *
 * @since 0.1.0
 * @category models
 */
export interface JobChange extends S.Schema.Type<typeof JobChange> {}

/**
 * An entry of a job's `opencode_sessions` list: which session did what.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JobOpencodeSession = S.Struct({
  purpose: S.String,
  id: S.String,
  unknownFields: unknownFields(["purpose", "id"])
}).annotations({ identifier: "JobOpencodeSession" })
/**
 * The decoded `JobOpencodeSession` (see the schema of the same name).
 *
 * @since 0.1.0
 * @category models
 */
export interface JobOpencodeSession extends S.Schema.Type<typeof JobOpencodeSession> {}

/**
 * `jobs` entry, keyed by job id. Lists are absent rather than empty (Go
 * omits empty ones).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Job = S.Struct({
  id: S.String,
  repo: S.String,
  todoId: S.String,
  agent: S.String,
  implementationModel: S.optional(NonEmpty),
  codeReviewModel: S.optional(NonEmpty),
  projectReviewModel: S.optional(NonEmpty),
  stage: JobStage,
  feedback: S.optional(NonEmpty),
  opencodeSessions: S.optional(S.NonEmptyArray(JobOpencodeSession)),
  changes: S.optional(S.NonEmptyArray(JobChange)),
  projectReview: S.optional(JobReview),
  status: JobStatus,
  createdAt: Timestamp.Timestamp,
  startedAt: Timestamp.Timestamp,
  updatedAt: Timestamp.Timestamp,
  completedAt: Timestamp.Timestamp,
  unknownFields: unknownFields([
    "id",
    "repo",
    "todo_id",
    "agent",
    "implementation_model",
    "code_review_model",
    "project_review_model",
    "stage",
    "feedback",
    "opencode_sessions",
    "changes",
    "project_review",
    "status",
    "created_at",
    "started_at",
    "updated_at",
    "completed_at"
  ])
}).annotations({ identifier: "Job" })
/**
 * The decoded `Job` (see the schema of the same name).
 *
 * @since 0.1.0
 * @category models
 */
export interface Job extends S.Schema.Type<typeof Job> {}

/**
 * The whole state file. The four maps are always present (possibly empty).
 * Maps produced by `decode` have no prototype, so a key such as
 * `constructor` or `__proto__` is plain data and a missing key reads as
 * `undefined`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const State = S.Struct({
  repos: S.Record({ key: S.String, value: RepoInfo }),
  workspaces: S.Record({ key: S.String, value: WorkspaceInfo }),
  opencodeSessions: S.Record({ key: S.String, value: OpencodeSession }),
  jobs: S.Record({ key: S.String, value: Job }),
  unknownFields: unknownFields(["repos", "workspaces", "opencode_sessions", "jobs"])
}).annotations({ identifier: "State" })
/**
 * The decoded `State` (see the schema of the same name).
 *
 * @since 0.1.0
 * @category models
 */
export interface State extends S.Schema.Type<typeof State> {}

/**
 * The state of a missing file: four empty maps.
 *
 * @since 0.1.0
 * @category constructors
 */
export const empty: State = codec.emptyState

// ---------------------------------------------------------------------------
// Codec

/**
 * Decodes state-file text (or its raw bytes) into a `State`. Bytes are
 * decoded as the Go tool does: each invalid UTF-8 byte becomes U+FFFD.
 * Fails with `CorruptStateFile` naming the JSON path, what was expected and
 * what was found (with line and column for a syntax error); `path`, when
 * given, is the file the text came from and appears in the error.
 *
 * @since 0.1.0
 * @category codec
 */
export const decode = (
  input: string | Uint8Array,
  options?: { readonly path?: string }
): Effect.Effect<State, CorruptStateFile> =>
  Effect.suspend(() => Either.map(codec.decode(input, options?.path), (decoded) => decoded.state))

/**
 * Like `decode`, returning an `Either` without running an Effect.
 *
 * @since 0.1.0
 * @category codec
 */
export const decodeEither = (
  input: string | Uint8Array,
  options?: { readonly path?: string }
): Either.Either<State, CorruptStateFile> =>
  Either.map(codec.decode(input, options?.path), (decoded) => decoded.state)

/**
 * Encodes a state as the exact text the Go tool writes for it: two-space
 * indentation, fields in Go's order, map keys sorted by UTF-8 bytes, `<`,
 * `>`, `&`, U+2028 and U+2029 escaped, no trailing newline; unknown fields
 * follow the known ones. Encoding the same record objects again reuses their
 * text, so re-encoding a state after a small change costs little.
 *
 * The state is trusted to satisfy the `State` schema (check untrusted data
 * with `Schema.validate(State)` first). Strings that are not well-formed
 * UTF-16 are written with U+FFFD, as Go writes invalid UTF-8.
 *
 * @since 0.1.0
 * @category codec
 */
export const encode: (state: State) => string = codec.encode

/**
 * The state file's text as a schema: `Schema.decode(StateFromJson)` parses
 * and validates, `Schema.encode(StateFromJson)` writes Go's bytes. Built on
 * `decode` and `encode`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const StateFromJson: S.Schema<State, string> = S.transformOrFail(S.String, S.typeSchema(State), {
  strict: true,
  decode: (text, _, ast) =>
    Either.mapLeft(codec.decode(text, undefined), (error) => new ParseResult.Type(ast, text, error.message)).pipe(
      Either.map((decoded) => decoded.state)
    ),
  encode: (state) => ParseResult.succeed(codec.encode(state))
})

// ---------------------------------------------------------------------------
// Derived state (job-changes spec). These ignore job status and stage.

/**
 * A change is complete when it has commits and its last commit's review
 * accepted it.
 *
 * @since 0.1.0
 * @category derived
 */
export const isComplete = (change: JobChange): boolean => {
  const commits = change.commits
  const last = commits === undefined ? undefined : commits[commits.length - 1]
  return last?.review?.outcome === "ACCEPT"
}

/**
 * The change a job is working on: its last change, unless that change is
 * complete.
 *
 * @since 0.1.0
 * @category derived
 */
export const currentChange = (job: Job): Option.Option<JobChange> => {
  const changes = job.changes
  const last = changes === undefined ? undefined : changes[changes.length - 1]
  return last === undefined || isComplete(last) ? Option.none() : Option.some(last)
}

/**
 * The last commit of the job's current change, if any.
 *
 * @since 0.1.0
 * @category derived
 */
export const currentCommit = (job: Job): Option.Option<JobCommit> =>
  Option.flatMap(currentChange(job), (change) => Option.fromNullable(change.commits?.[change.commits.length - 1]))

/**
 * A change's iteration count: how many commits were made on it.
 *
 * @since 0.1.0
 * @category derived
 */
export const iterationCount = (change: JobChange): number => change.commits?.length ?? 0
