import * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import * as Scope from "effect/Scope"
import koffi from "koffi"
import { LockTimeout, StateIoError } from "../StateError.js"

const LOCK_EX = 2
const LOCK_NB = 4
const LOCK_UN = 8
const EINTR = 4
const EWOULDBLOCK = 11

interface Flock {
  (fd: number, operation: number): number
  async(fd: number, operation: number, callback: (error: unknown, result: number) => void): void
}

let flockFn: Flock | undefined
const flock = (): Flock => flockFn ??= koffi.load(null).func("int flock(int, int)") as unknown as Flock

/** flock(2) that cannot block: retried on EINTR; returns 0, or the errno. */
const flockNow = (fd: number, operation: number): number => {
  for (;;) {
    if (flock()(fd, operation) === 0) return 0
    const errno = koffi.errno()
    if (errno !== EINTR) return errno
  }
}

let parked = 0

/**
 * How many flock calls are parked on pool threads right now. Node joins its
 * pool threads when the process exits, so while one is parked (after a wait
 * timed out or was interrupted, until the kernel grants the lock) even
 * `process.exit` waits for it.
 */
export const parkedCalls = (): number => parked

let exitFn: ((code: number) => void) | undefined

/**
 * Ends the process at once with `code` (libc `_exit`), without joining pool
 * threads: for a one-shot program that must not hang on a parked flock.
 * Output written to stdout and stderr is already flushed: on Linux, Node
 * writes both synchronously to files, pipes and terminals.
 */
export const exitImmediately = (code: number): never => {
  exitFn ??= koffi.load(null).func("void _exit(int)") as unknown as (code: number) => void
  exitFn(code)
  throw new Error("unreachable: _exit returned")
}

/**
 * An open lock file and, once the lock is contended, the blocking
 * `flock(LOCK_EX)` parked on a pool thread for it. It outlives the fiber
 * that started it when that fiber is interrupted: the next waiter of this
 * process adopts it instead of parking a second thread.
 */
class Attempt {
  /** Called when the parked flock returns; absent while no fiber waits for it. */
  waiter: ((exit: Exit.Exit<void, StateIoError>) => void) | undefined
  parked = false
  failures = 0

  constructor(
    readonly lockPath: string,
    readonly fd: number,
    readonly closeFile: Effect.Effect<void>
  ) {}

  /** Starts the blocking call. Only one runs per lock file per process. */
  park(slot: Slot): void {
    this.parked = true
    parked++
    flock().async(this.fd, LOCK_EX, (error, result) => {
      this.parked = false
      parked--
      // Pool threads do not report errno; a failed call (EINTR, in practice) is made again, a few times.
      if (error === null && result !== 0 && this.waiter !== undefined && ++this.failures < 5) return this.park(slot)
      const exit: Exit.Exit<void, StateIoError> = error === null && result === 0
        ? Exit.void
        : Exit.fail(
          new StateIoError({ operation: "flock", path: this.lockPath, reason: String(error ?? `returned ${result}`) })
        )
      const waiter = this.waiter
      this.waiter = undefined
      if (slot.attempt === this) slot.attempt = undefined
      if (waiter !== undefined) return waiter(exit)
      // Nobody wants the lock any more (the waiter was interrupted or timed out): let it go at once.
      if (Exit.isSuccess(exit)) flockNow(this.fd, LOCK_UN)
      Effect.runFork(this.closeFile)
    })
  }
}

/** Per lock file: the in-process queue and the outstanding parked attempt, if any. */
interface Slot {
  readonly queue: Effect.Semaphore
  /** Fibers holding or waiting for the queue's permit: 0 means taking it cannot wait. */
  inUse: number
  attempt: Attempt | undefined
}

const slots = new Map<string, Slot>()

const slotFor = (lockPath: string): Slot => {
  let slot = slots.get(lockPath)
  if (slot === undefined) {
    slot = { queue: Effect.unsafeMakeSemaphore(1), inUse: 0, attempt: undefined }
    slots.set(lockPath, slot)
  }
  return slot
}

/** Opens (creating, 0644) the lock file in a scope of its own: a parked attempt may outlive the caller's. */
const openLockFile = (lockPath: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const scope = yield* Scope.make()
    const file = yield* fs.open(lockPath, { flag: "a+", mode: 0o644 }).pipe(
      Scope.extend(scope),
      Effect.onError(() => Scope.close(scope, Exit.void)),
      Effect.mapError((cause) =>
        new StateIoError({
          operation: "open lock",
          path: lockPath,
          reason: cause._tag === "SystemError" ? `${cause.reason}: ${cause.description ?? cause.message}` : cause.message,
          cause
        })
      )
    )
    // Closing frees the descriptor, and with it the flock, even when close(2) reports an error,
    // which Node's FileSystem raises as a defect: ignore it rather than fail an update that landed.
    return new Attempt(lockPath, file.fd, Effect.catchAllDefect(Scope.close(scope, Exit.void), () => Effect.void))
  })

/** Waits for `attempt`'s parked flock, leaving it parked (for the next waiter) if interrupted. */
const awaitParked = (slot: Slot, attempt: Attempt) =>
  Effect.async<void, StateIoError>((resume) => {
    attempt.waiter = resume
    if (!attempt.parked) attempt.park(slot)
    return Effect.sync(() => {
      if (attempt.waiter === resume) attempt.waiter = undefined
    })
  })

/**
 * Waits for `effect`, interruptibly, failing with `LockTimeout` once the
 * deadline passes. Only the steps that can wait pay for a timer: an
 * uncontended lock is taken without one.
 */
type Wait = <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E | LockTimeout>

/**
 * Takes the lock while holding the in-process queue, uninterruptible except
 * while waiting for the parked call; returns the attempt that holds it.
 */
const lockFile = (lockPath: string, slot: Slot, wait: Wait) =>
  Effect.gen(function*() {
    const adopted = slot.attempt
    if (adopted !== undefined) {
      yield* wait(awaitParked(slot, adopted))
      return adopted
    }
    const attempt = yield* openLockFile(lockPath)
    const errno = flockNow(attempt.fd, LOCK_EX | LOCK_NB)
    if (errno === 0) return attempt
    if (errno !== EWOULDBLOCK) {
      yield* attempt.closeFile
      return yield* new StateIoError({ operation: "flock", path: lockPath, reason: `errno ${errno}` })
    }
    slot.attempt = attempt
    yield* wait(awaitParked(slot, attempt))
    return attempt
  })

const release = (attempt: Attempt) =>
  Effect.suspend(() => {
    flockNow(attempt.fd, LOCK_UN)
    // The lock is free now; closing the file can finish in the background.
    return Effect.forkDaemon(attempt.closeFile)
  })

export const acquire = (lockPath: string, timeout: Duration.Duration) => {
  const timeoutMillis = Duration.toMillis(timeout)
  const timedOut = () => new LockTimeout({ path: lockPath, waitedMillis: timeoutMillis })
  return Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const scope = yield* Effect.scope
      const deadline = (yield* Clock.currentTimeMillis) + timeoutMillis
      const wait: Wait = (effect) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          restore(Effect.timeoutFail(effect, { duration: Math.max(0, deadline - now), onTimeout: timedOut })))
      // Looked up and counted with no yield between, so an idle slot is never dropped under us.
      const slot = slotFor(lockPath)
      const queued = slot.inUse++ > 0
      yield* Scope.addFinalizer(
        scope,
        Effect.sync(() => {
          // An idle slot is forgotten, so that a process touching many lock files does not keep them all.
          if (--slot.inUse === 0 && slot.attempt === undefined && slots.get(lockPath) === slot) slots.delete(lockPath)
        })
      )
      yield* queued ? wait(slot.queue.take(1)) : slot.queue.take(1)
      // Finalizers run in reverse: the file is unlocked before the permit passes to the next fiber.
      yield* Scope.addFinalizer(scope, slot.queue.release(1))
      const attempt = yield* lockFile(lockPath, slot, wait)
      yield* Scope.addFinalizer(scope, release(attempt))
    })
  ).pipe(Effect.withSpan("Lock.acquire", { attributes: { lockPath } }))
}

export const withLock = (
  acquireLock: (
    lockPath: string,
    options?: { readonly timeout?: Duration.DurationInput }
  ) => Effect.Effect<void, LockTimeout | StateIoError, Scope.Scope | FileSystem.FileSystem>
) =>
  dual(
    (args) => Effect.isEffect(args[0]),
    <A, E, R>(
      effect: Effect.Effect<A, E, R>,
      lockPath: string,
      options?: { readonly timeout?: Duration.DurationInput }
    ) => Effect.scoped(Effect.zipRight(acquireLock(lockPath, options), effect))
  ) as any
