/**
 * The state file's data model and its codec.
 *
 * The schemas below describe the decoded state: immutable plain data with
 * camelCase fields, readonly records for the maps and literal unions for the
 * enums. They, the decoder, the encoder and the write check are all derived
 * from one table per record (`src/internal/format.ts`, the file format's
 * field-by-field description); `decode` and `encode` convert between the
 * state and the exact bytes the Go `ii` tool reads and writes.
 *
 * Every record may carry `unknownFields`: keys this version does not know
 * (written by a newer tool), kept as read and written back after the known
 * fields, so a read-modify-write never drops them. Likewise an enum value
 * this version does not know is kept as an `UnknownValue`.
 *
 * Everything `decode` returns is deeply frozen: records are shared between
 * states (and cached by the encoder), so they must never change in place.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as S from "effect/Schema"
import * as codec from "./internal/codec.js"
import * as Format from "./internal/format.js"
import * as Record from "./internal/record.js"
import type { CorruptStateFile, InvalidState } from "./StateError.js"

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
export type JsonValue = Record.JsonValue

/**
 * The schema of `JsonValue`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonValue: S.Schema<JsonValue> = Record.JsonValueSchema

/**
 * Keys a record had in the file that this version does not know, in the
 * order read, with their values.
 *
 * @since 0.1.0
 * @category models
 */
export type UnknownFields = Record.UnknownFields

/**
 * An enum value this version does not know: a string a newer Go tool wrote
 * as a status, stage or outcome. It is kept and written back byte for byte.
 * A caller may write back any value a state file held, but cannot invent
 * one: the write check refuses a value no decoded file had.
 *
 * @since 0.2.0
 * @category models
 */
export type UnknownValue = Record.UnknownValue

/**
 * The schema of `UnknownValue`.
 *
 * @since 0.2.0
 * @category schemas
 */
export const UnknownValue: S.Schema<UnknownValue, string> = Record.UnknownValue

// ---------------------------------------------------------------------------
// Enums. "" is Go's zero value: a record written with no status at all. Go
// keeps any string, and so does this library (as an `UnknownValue`), so a
// newer tool's value never makes the file unreadable.

/**
 * The schema of `WorkspaceStatus`: `available`, `acquired`, `""` (Go's zero
 * value) or an `UnknownValue`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const WorkspaceStatus = Format.WorkspaceStatus.schema
/**
 * `available` or `acquired`; `""` when the file had none; an `UnknownValue`
 * when a newer tool wrote one this version does not know.
 *
 * @since 0.1.0
 * @category models
 */
export type WorkspaceStatus = typeof WorkspaceStatus.Type
/**
 * Whether a workspace status is one this version knows (`""` included).
 *
 * @since 0.2.0
 * @category guards
 */
export const isKnownWorkspaceStatus = Format.WorkspaceStatus.isKnown

/**
 * The schema of `SessionStatus`: `active`, `completed`, `failed`, `killed`,
 * `""` or an `UnknownValue`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SessionStatus = Format.SessionStatus.schema
/**
 * An opencode session's status; `""` when the file had none; an
 * `UnknownValue` when a newer tool wrote one this version does not know.
 *
 * @since 0.1.0
 * @category models
 */
export type SessionStatus = typeof SessionStatus.Type
/**
 * Whether a session status is one this version knows (`""` included).
 *
 * @since 0.2.0
 * @category guards
 */
export const isKnownSessionStatus = Format.SessionStatus.isKnown

/**
 * The schema of `JobStage`: `implementing`, `testing`, `reviewing`,
 * `committing`, `""` or an `UnknownValue`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JobStage = Format.JobStage.schema
/**
 * Where a job is in its implement, test, review, commit loop; `""` when the
 * file had none; an `UnknownValue` when a newer tool wrote one.
 *
 * @since 0.1.0
 * @category models
 */
export type JobStage = typeof JobStage.Type
/**
 * Whether a job stage is one this version knows (`""` included).
 *
 * @since 0.2.0
 * @category guards
 */
export const isKnownJobStage = Format.JobStage.isKnown

/**
 * The schema of `JobStatus`: `active`, `completed`, `failed`, `abandoned`,
 * `""` or an `UnknownValue`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JobStatus = Format.JobStatus.schema
/**
 * A job's status; `""` when the file had none; an `UnknownValue` when a
 * newer tool wrote one.
 *
 * @since 0.1.0
 * @category models
 */
export type JobStatus = typeof JobStatus.Type
/**
 * Whether a job status is one this version knows (`""` included).
 *
 * @since 0.2.0
 * @category guards
 */
export const isKnownJobStatus = Format.JobStatus.isKnown

/**
 * The schema of `ReviewOutcome`: `ACCEPT`, `REQUEST_CHANGES`, `ABANDON`, `""`
 * or an `UnknownValue`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReviewOutcome = Format.ReviewOutcome.schema
/**
 * A review's verdict; `""` when the file had none; an `UnknownValue` when a
 * newer tool wrote one.
 *
 * @since 0.1.0
 * @category models
 */
export type ReviewOutcome = typeof ReviewOutcome.Type
/**
 * Whether a review outcome is one this version knows (`""` included).
 *
 * @since 0.2.0
 * @category guards
 */
export const isKnownReviewOutcome = Format.ReviewOutcome.isKnown

// ---------------------------------------------------------------------------
// Records, from the tables in src/internal/format.ts. Optional fields are
// absent rather than empty where Go omits empty values, since an empty value
// could not survive a round trip.

/**
 * `repos` entry: where a repo's source lives.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RepoInfo = Format.RepoInfo.struct
/**
 * The decoded `RepoInfo` (see the schema of the same name).
 *
 * @since 0.1.0
 * @category models
 */
export interface RepoInfo extends S.Schema.Type<typeof RepoInfo> {}

/**
 * `workspaces` entry, keyed `"<repo>/<workspace name>"`. `purpose`, `rev`
 * and `acquiredByPid` are absent when empty.
 *
 * @since 0.1.0
 * @category schemas
 */
export const WorkspaceInfo = Format.WorkspaceInfo.struct
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
export const OpencodeSession = Format.OpencodeSession.struct
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
export const JobReview = Format.JobReview.struct
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
export const JobCommit = Format.JobCommit.struct
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
export const JobChange = Format.JobChange.struct
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
export const JobOpencodeSession = Format.JobOpencodeSession.struct
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
export const Job = Format.Job.struct
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
  unknownFields: S.optional(Record.unknownFieldsSchemaFor((key) => codec.stateKnownKeys.includes(key)))
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
 * The state is trusted: check one that did not come from `decode` or the
 * store with `normalize` first (the store does so on every write). Strings that are not well-formed
 * UTF-16 are written with U+FFFD, as Go writes invalid UTF-8.
 *
 * @since 0.1.0
 * @category codec
 */
export const encode: (state: State) => string = codec.encode

/**
 * Checks a state against the rules every write of the store applies, and
 * returns it as a reader of the written file will see it: an empty
 * `feedback` or `changes` becomes absent, a valid but non-canonical
 * timestamp canonical, `-0` zero; the result is deeply frozen. Fails with
 * `InvalidState` (naming the JSON path, what was expected and what was
 * found) for what the file cannot hold or the Go tool could not read back:
 * a timestamp that is not RFC 3339, an enum value no state file held, a
 * fraction or unsafe integer where Go has an int, a non-finite number, a
 * bigint, a function, a cycle, nesting deeper than decode reads, a string
 * with an unpaired surrogate, a missing field, a property that is no field,
 * an unknown field named like a known one, or an encoding larger than
 * decode reads.
 *
 * @since 0.2.0
 * @category codec
 */
export const normalize = (state: State): Effect.Effect<State, InvalidState> =>
  Effect.suspend(() => codec.normalize(state))

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
