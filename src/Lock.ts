/**
 * The exclusive `flock(2)` on `state.lock`, as a scoped Effect resource.
 *
 * This is the lock the Go `ii` tool takes, so it excludes (and is excluded
 * by) every flock user of the file: Go, other Node processes, python's
 * `fcntl.flock`, and other fibers of this process. Locks made with mkdir,
 * O_EXCL or fcntl/OFD record locks would not exclude the Go tool.
 *
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/lock.js"
import type { LockTimeout, StateIoError } from "./StateError.js"

/**
 * How long `acquire` waits by default before failing with `LockTimeout`:
 * 30 seconds. The Go tool waits forever; a service should not.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultTimeout: Duration.Duration = Duration.seconds(30)

/**
 * @since 0.1.0
 * @category models
 */
export interface LockOptions {
  /** How long to wait for the lock (default `defaultTimeout`), measured with Effect's `Clock`. */
  readonly timeout?: Duration.DurationInput
}

/**
 * Holds the exclusive flock on `lockPath` for the lifetime of the current
 * scope, creating the file (mode 0644) if it is missing; the file is never
 * deleted or renamed.
 *
 * Waiting never blocks the event loop and never starves behind peers that
 * wait in a blocking `LOCK_EX` (the Go tool does): an uncontended lock is
 * taken with a non-blocking call; a contended one waits in the kernel's
 * queue on one libuv pool thread per lock file, however many fibers wait
 * (they queue in-process behind it). Waiting is interruptible; a wait that
 * is interrupted or times out hands the still-parked call to the next
 * waiter, or, if there is none, releases the lock the moment the call
 * returns, so the lock is never left held.
 *
 * Fails with `LockTimeout` after `options.timeout`, or `StateIoError` when
 * the lock file cannot be opened or flock itself fails.
 *
 * @since 0.1.0
 * @category constructors
 */
export const acquire: (
  lockPath: string,
  options?: LockOptions
) => Effect.Effect<void, LockTimeout | StateIoError, Scope.Scope | FileSystem.FileSystem> = (lockPath, options) =>
  internal.acquire(lockPath, Duration.decode(options?.timeout ?? defaultTimeout))

/**
 * Runs `effect` while holding the lock on `lockPath` (see `acquire`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const withLock: {
  (lockPath: string, options?: LockOptions): <A, E, R>(
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | LockTimeout | StateIoError, Exclude<R, Scope.Scope> | FileSystem.FileSystem>
  <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    lockPath: string,
    options?: LockOptions
  ): Effect.Effect<A, E | LockTimeout | StateIoError, Exclude<R, Scope.Scope> | FileSystem.FileSystem>
} = internal.withLock((lockPath, options) => acquire(lockPath, options))

/**
 * How many blocking flock calls this process has parked on pool threads
 * right now (at most one per lock file). One stays parked after a wait
 * times out or is interrupted, until the kernel grants the lock, which it
 * then releases at once. Node joins its pool threads when the process
 * exits, so while one is parked even `process.exit` waits for it.
 *
 * @since 0.1.0
 * @category process
 */
export const parkedCalls: () => number = internal.parkedCalls

/**
 * Ends the process at once with `code` (libc `_exit`), without waiting for
 * parked flock calls: for one-shot programs (CLIs) whose lock wait timed
 * out, e.g. `if (Lock.parkedCalls() > 0) Lock.exitImmediately(1)` at the
 * end of `main`. Skips `exit` handlers; Node's stdout and stderr are
 * already flushed (it writes them synchronously on Linux).
 *
 * @since 0.1.0
 * @category process
 */
export const exitImmediately: (code: number) => never = internal.exitImmediately
