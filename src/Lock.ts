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
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as internal from "./internal/lock.js"
import type { LockTimeout, StateIoError } from "./StateError.js"

/**
 * The lock bookkeeping of a process (or of a part of it): per lock file
 * (by device and inode, whatever path spells it), the queue of this
 * process's fibers and the one blocking flock call parked for them. Fibers
 * using one `Locks` queue in-process behind a single kernel wait; separate
 * services still exclude each other, through the kernel.
 *
 * The lock needs Node's file system: flock(2) takes a real descriptor, so
 * the lock file is opened with Node's own calls, not through a `FileSystem`
 * service.
 *
 * @since 0.2.0
 * @category tags
 */
export class Locks extends Context.Tag("@incrementum/state/Lock/Locks")<Locks, internal.Service>() {}

/**
 * A fresh `Locks` service; closing the scope ends its idle wait threads.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: Effect.Effect<internal.Service, never, Scope.Scope> = internal.make

/**
 * A `Locks` service for the layers that use it (one per process is enough).
 *
 * @since 0.2.0
 * @category layers
 */
export const layer: Layer.Layer<Locks> = Layer.scoped(Locks, make)

/**
 * The lock, held (see `acquire`). `isCurrent()` says whether the lock file
 * is still the one locked: false once it was removed or replaced, after
 * which another process can lock a new file at the same path. Check it
 * just before a write the lock guards (synchronously, in the same step).
 *
 * @since 0.2.0
 * @category models
 */
export interface Held {
  readonly path: string
  readonly isCurrent: () => boolean
}

/**
 * How long `acquire` waits by default before failing with `LockTimeout`:
 * 30 seconds. The Go tool waits forever; a service should not.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultTimeout: Duration.Duration = Duration.seconds(30)

/**
 * Options of `acquire` and `withLock`.
 *
 * @since 0.1.0
 * @category models
 */
export interface LockOptions {
  /** How long to wait for the lock (default `defaultTimeout`), measured with Effect's `Clock`. */
  readonly timeout?: Duration.DurationInput
}

/**
 * Holds the exclusive flock on `lockPath` for the lifetime of the current
 * scope, creating the file (mode 0644, less the umask) if it is missing.
 * The file is never deleted or renamed: a peer may hold an open descriptor
 * of it, and a new file at the same path would not exclude that peer. If
 * the file at `lockPath` was removed or replaced while this fiber waited,
 * the lock is let go and the file there now is locked instead.
 *
 * Waiting never blocks the event loop and never starves behind peers that
 * wait in a blocking `LOCK_EX` (the Go tool does): a free lock is taken with
 * one non-blocking call; a held one is waited for in the kernel's queue by
 * one blocking call per lock file (by device and inode) on a thread of its
 * own (never on libuv's pool, which file I/O needs), however many
 * fibers of this process wait (they queue in-process, first come first
 * served, behind it). Waiting is interruptible. A wait that is interrupted
 * or times out leaves the blocking call to the next waiter of this process,
 * or, if there is none, lets go of the lock the moment the call gets it, so
 * the lock is never left held. A fiber that waits keeps the process alive
 * (also with no timeout, `Duration.infinity`); a call left parked by a wait
 * that ended does not.
 *
 * Not re-entrant: acquiring a lock the current fiber already holds waits
 * until the timeout.
 *
 * Fails with `LockTimeout` when the lock is not obtained within
 * `options.timeout` (default `defaultTimeout`), and with `StateIoError` when
 * the lock file cannot be opened (operation "open lock"; e.g. its directory
 * does not exist) or flock(2) itself fails (operation "flock").
 *
 * @since 0.1.0
 * @category constructors
 */
export const acquire: (
  lockPath: string,
  options?: LockOptions
) => Effect.Effect<Held, LockTimeout | StateIoError, Scope.Scope | Locks> = (lockPath, options) =>
  Effect.flatMap(Locks, (service) => internal.acquire(service, lockPath, Duration.decode(options?.timeout ?? defaultTimeout)))

/**
 * Runs `effect` while holding the lock on `lockPath`, and releases it when
 * `effect` ends, however it ends. Fails as `acquire` does, before `effect`
 * starts. A `Scope` that `effect` needs is still the caller's: resources it
 * opens are not closed with the lock.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withLock: {
  (lockPath: string, options?: LockOptions): <A, E, R>(
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | LockTimeout | StateIoError, R | Locks>
  <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    lockPath: string,
    options?: LockOptions
  ): Effect.Effect<A, E | LockTimeout | StateIoError, R | Locks>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(effect: Effect.Effect<A, E, R>, lockPath: string, options?: LockOptions) =>
    Effect.flatMap(
      Locks,
      (service) => internal.withLock(service, lockPath, Duration.decode(options?.timeout ?? defaultTimeout), () => effect)
    )
)

/**
 * How many blocking flock calls this process has parked right now (at
 * most one per lock file and `Locks` service). One stays parked after a
 * wait times out or is interrupted, until the kernel grants the lock, which
 * it then releases at once. Node joins every thread when the process
 * exits, and a thread blocked in flock(2) cannot be joined: a process that
 * exits with a wait parked therefore ends itself with libc `_exit` from an
 * `exit` listener, with its exit code (later `exit` listeners do not run).
 *
 * @since 0.1.0
 * @category process
 */
export const parkedCalls: () => number = internal.parkedCalls

/**
 * Ends the process at once with `code` (libc `_exit`), without waiting for
 * parked flock calls. No longer needed: a process that exits with a wait
 * still parked now ends this way by itself (from an `exit` listener, with
 * its exit code), so a one-shot program whose lock wait timed out exits
 * promptly. Kept for one version for programs that call it. Skips `exit`
 * handlers; Node's stdout and stderr are already flushed (it writes them
 * synchronously on Linux).
 *
 * @deprecated since 0.2.0: not needed any more; a no-op would do, but it still exits.
 * @since 0.1.0
 * @category process
 */
export const exitImmediately: (code: number) => never = internal.exitImmediately
