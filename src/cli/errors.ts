/**
 * The CLI's own failures and how each failure becomes an exit code.
 *
 * @since 0.2.0
 */
import * as Schema from "effect/Schema"

/**
 * An expected failure of a command that is not a store error (no such job,
 * an ambiguous prefix, a state directory that does not exist, not a
 * workspace): the binary prints its message on one line and exits 1.
 *
 * @since 0.2.0
 * @category errors
 */
export class CliFailure extends Schema.TaggedError<CliFailure>("@incrementum/state/CliFailure")("CliFailure", {
  reason: Schema.String
}) {
  override get message(): string {
    return this.reason
  }
}

/**
 * The command line itself is wrong: an unknown command or option, a missing
 * or bad value. The binary prints the message, the command's usage line and
 * where to find its help, and exits 2.
 *
 * @since 0.2.0
 * @category errors
 */
export class UsageError extends Schema.TaggedError<UsageError>("@incrementum/state/UsageError")("UsageError", {
  reason: Schema.String,
  /** The command whose usage to print; the root's when absent. */
  command: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return this.reason
  }
}

// Tags rather than classes: the store's error classes live in modules the
// read-only commands never load (they pull in the native lock binding).
const expectedTags: ReadonlySet<string> = new Set([
  "CliFailure",
  "CorruptStateFile",
  "StateIoError",
  "LockTimeout",
  "InvalidState",
  "LockLost",
  "NotFound",
  "RepoSourceMissing"
])

/**
 * True for the failures a person can act on, which the binary reports as
 * one line without a stack trace: `CliFailure`, the store's errors and
 * `RepoSourceMissing`. Anything else is a bug and is reported in full.
 *
 * @since 0.2.0
 * @category errors
 */
export const isExpectedFailure = (u: unknown): u is { readonly _tag: string; readonly message: string } =>
  typeof u === "object" && u !== null && "_tag" in u && typeof u._tag === "string" && expectedTags.has(u._tag) &&
  "message" in u && typeof u.message === "string"

/**
 * The exit codes: 0 success, 1 a failure of the command (see
 * `isExpectedFailure`) or a bug, 2 bad usage.
 *
 * @since 0.2.0
 * @category constants
 */
export const ExitCode = { ok: 0, failure: 1, usage: 2 } as const
