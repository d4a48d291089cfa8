/**
 * The typed failures of the state library. Every expected failure is one of
 * these three classes, so callers can `Effect.catchTag` each by name; nothing
 * expected surfaces as a defect.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

/**
 * The state file (or a string handed to `Schema.decode`) is not a valid
 * state. The file is never modified when this is raised: a corrupt file is
 * kept byte for byte so a person can repair it.
 *
 * - `path`: the file, when the text came from one.
 * - `jsonPath`: where in the document, e.g. `jobs["job-1"].changes[0].commits`
 *   (`$` is the document itself).
 * - `expected` / `found`: what the codec wanted and what it saw.
 * - `line` / `column`: 1-based position, for syntax errors.
 *
 * @since 0.1.0
 * @category errors
 */
export class CorruptStateFile extends Schema.TaggedError<CorruptStateFile>("@incrementum/state/CorruptStateFile")(
  "CorruptStateFile",
  {
    path: Schema.optional(Schema.String),
    jsonPath: Schema.String,
    expected: Schema.String,
    found: Schema.String,
    line: Schema.optional(Schema.Number),
    column: Schema.optional(Schema.Number)
  }
) {
  override get message(): string {
    const where = this.line === undefined ? "" : `:${this.line}:${this.column ?? 1}`
    const file = this.path === undefined ? "state" : `${this.path}${where}`
    const at = this.jsonPath === "$" ? "" : ` at ${this.jsonPath}`
    return `corrupt ${file}${at}: expected ${this.expected}, found ${this.found}`
  }
}

/**
 * The operating system refused a file operation (read, open, write, fsync,
 * rename, mkdir, ...). `operation` names the step that failed, so a failed
 * write says whether it was the temp file's write, its fsync, the rename or
 * the directory fsync. Whatever step fails, no temp file is left behind,
 * and the previous state file is left intact, unless `committed` is true:
 * then the step failed after the new state was put in place (the directory
 * fsync after the rename), so the update did land, though its durability
 * across a power loss is unknown. Do not retry such an update.
 *
 * @since 0.1.0
 * @category errors
 */
export class StateIoError extends Schema.TaggedError<StateIoError>("@incrementum/state/StateIoError")(
  "StateIoError",
  {
    operation: Schema.String,
    path: Schema.String,
    reason: Schema.String,
    cause: Schema.optional(Schema.Defect),
    committed: Schema.optional(Schema.Boolean)
  }
) {
  override get message(): string {
    const landed = this.committed === true ? " (the new state is in place)" : ""
    return `${this.operation} ${this.path}: ${this.reason}${landed}`
  }
}

/**
 * The exclusive lock on `state.lock` was not obtained within the configured
 * timeout, because another process (a Go `ii` command, another service) held
 * it for that long.
 *
 * @since 0.1.0
 * @category errors
 */
export class LockTimeout extends Schema.TaggedError<LockTimeout>("@incrementum/state/LockTimeout")(
  "LockTimeout",
  {
    path: Schema.String,
    waitedMillis: Schema.Number
  }
) {
  override get message(): string {
    return `timed out after ${Duration.format(Duration.millis(this.waitedMillis))} waiting for the lock on ${this.path}`
  }
}

/**
 * A state handed to the store (by `save`, or returned by an update
 * function) holds a value the state file cannot hold, or one the Go tool
 * could not read back: a timestamp that is not RFC 3339, a status outside
 * its enum, a fraction where Go has an int, a cycle, a missing field. Nothing
 * was written, the lock was released and the store stays usable.
 *
 * - `jsonPath`: where in the state, in the file's keys, e.g.
 *   `jobs["job-1"].created_at` (`$` is the state itself).
 * - `expected` / `found`: what the file needs there and what was given.
 *
 * @since 0.2.0
 * @category errors
 */
export class InvalidState extends Schema.TaggedError<InvalidState>("@incrementum/state/InvalidState")(
  "InvalidState",
  {
    jsonPath: Schema.String,
    expected: Schema.String,
    found: Schema.String
  }
) {
  override get message(): string {
    const at = this.jsonPath === "$" ? "" : ` at ${this.jsonPath}`
    return `invalid state${at}: expected ${this.expected}, found ${this.found}`
  }
}

/**
 * The lock file was removed or replaced while this process held the lock on
 * it, so another process may have taken "the" lock on a new file at the same
 * path: the exclusion is gone. Nothing was written; the update can be
 * retried, and will lock the file now at `path`.
 *
 * @since 0.2.0
 * @category errors
 */
export class LockLost extends Schema.TaggedError<LockLost>("@incrementum/state/LockLost")(
  "LockLost",
  {
    path: Schema.String
  }
) {
  override get message(): string {
    return `the lock file ${this.path} was removed or replaced while held; nothing was written`
  }
}

/**
 * Any failure of the store itself (not of a caller's update function).
 *
 * @since 0.1.0
 * @category errors
 */
export type StateError = CorruptStateFile | StateIoError | LockTimeout | InvalidState | LockLost

/**
 * A record looked up by its key (a job id, a workspace's or a session's
 * `"<repo>/<name>"`) is not in the state. Raised by `Job.update`,
 * `Workspace.update`, `Session.update` and their `updateEffect` forms, which
 * then write nothing.
 *
 * - `kind`: which map was searched: `job`, `workspace` or `session`.
 * - `key`: the key that was not found.
 *
 * @since 0.2.0
 * @category errors
 */
export class NotFound extends Schema.TaggedError<NotFound>("@incrementum/state/NotFound")(
  "NotFound",
  {
    kind: Schema.Literal("job", "workspace", "session"),
    key: Schema.String
  }
) {
  override get message(): string {
    return `no ${this.kind} ${JSON.stringify(this.key)} in the state`
  }
}
