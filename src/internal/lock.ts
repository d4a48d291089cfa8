import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import { createRequire } from "node:module"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { isMainThread } from "node:worker_threads"
import { LockTimeout, StateIoError } from "../StateError.js"
import { FlockThreads } from "./flockThreads.js"
import { unlessInterrupted } from "./interruption.js"

const LOCK_EX = 2
const LOCK_NB = 4
const LOCK_UN = 8
type Flock = (fd: number, operation: number) => number

/** What the lock needs of libc, through koffi. */
interface Native {
  readonly flock: Flock
  readonly strerror: (errno: number) => string
  /** errno as koffi read it right after this thread's last native call. */
  readonly errno: () => number
  readonly exit: (code: number) => void
  // From koffi's table rather than Linux's numbers: EWOULDBLOCK is 35 on macOS.
  readonly EINTR: number
  readonly EWOULDBLOCK: number
  readonly errnoNames: ReadonlyMap<number, string>
}

const loadNative = (): Native => {
  // Loaded on the first lock rather than at import: importing the package (for its codec or
  // schemas, say) must not load a native library.
  const koffi = createRequire(import.meta.url)("koffi") as typeof import("koffi")
  const lib = koffi.load(null)
  const table = koffi.os.errno
  const errnoNames = new Map<number, string>()
  for (const [name, value] of Object.entries(table)) if (!errnoNames.has(value)) errnoNames.set(value, name)
  return {
    flock: lib.func("int flock(int, int)") as unknown as Flock,
    strerror: lib.func("const char *strerror(int)") as unknown as (errno: number) => string,
    errno: () => koffi.errno(),
    exit: lib.func("void _exit(int)") as unknown as (code: number) => void,
    EINTR: table["EINTR"] ?? 4,
    EWOULDBLOCK: table["EWOULDBLOCK"] ?? table["EAGAIN"] ?? 11,
    errnoNames
  }
}

const native: () => Native = (() => {
  const loaded: Array<Native> = []
  return () => loaded[0] ?? (loaded[0] = loadNative())
})()

/** "EBADF: Bad file descriptor": the form Node uses, so reasons read alike whichever layer failed. */
const describeErrno = (errno: number): string =>
  `${native().errnoNames.get(errno) ?? `errno ${errno}`}: ${native().strerror(errno)}`

/**
 * flock(2) for operations that cannot block (LOCK_NB, LOCK_UN), retried on
 * EINTR; returns 0 or the errno. koffi reads errno right after the call, on
 * this thread, before any other native code can overwrite it.
 */
const flockNow = (fd: number, operation: number): number => {
  const { EINTR, errno, flock } = native()
  for (;;) {
    if (flock(fd, operation) === 0) return 0
    const error = errno()
    if (error !== EINTR) return error
  }
}

// Diagnostics only, for the deprecated `Lock.parkedCalls`: the bookkeeping itself lives in each `Locks` service.
let parkedInProcess = 0

/** How many blocking flock calls are parked right now, over every `Locks` service of the process. */
export const parkedCalls = (): number => parkedInProcess

/**
 * libc `_exit`: ends the process without joining threads, which Node
 * otherwise does at exit, so a parked flock would hold the process open.
 * stdout and stderr need no flushing: on Linux Node writes them synchronously.
 */
export const exitImmediately = (code: number): never => {
  native().exit(code)
  throw new Error("unreachable: _exit returned")
}

let exitHooked = false

/**
 * Once a wait has been parked in this process: when the process exits with
 * a wait still parked, end it at once with its exit code, rather than let
 * Node join the thread blocked in flock(2), which would hold the exit until
 * another process lets go of the lock. Node emits `exit` before it joins
 * its threads; listeners added after this one do not run in that case.
 */
const hookExit = (): void => {
  // In a worker thread `exit` is the thread's, and _exit would end the whole process.
  if (exitHooked || !isMainThread) return
  exitHooked = true
  // The loader's own exit code is the one Node would have exited with.
  process.on("exit", (code) => {
    if (parkedInProcess > 0) exitImmediately(code)
  })
}

/**
 * One open description of the lock file, opened with Node's synchronous
 * calls: flock(2) needs a real descriptor, which only Node's file system
 * gives, and a synchronous close can be made from the callback that
 * learns a parked call returned, without starting a fiber. The flock
 * belongs to the description, so closing it also drops the lock.
 */
interface LockFile {
  readonly fd: number
  /** dev and inode: the identity of the file, whatever path spelled it. */
  readonly key: string
  /** Never fails: close(2) frees the descriptor, and with it the lock, even when it reports an error. */
  readonly close: () => void
}

const closeQuietly = (fd: number) => () => {
  try {
    NodeFs.closeSync(fd)
  } catch {
    // The descriptor is freed whatever close(2) reports.
  }
}

/**
 * A blocking `flock(LOCK_EX)` running on a thread of its own. It can neither
 * be cancelled nor be waited for by more than one fiber, and it outlives the
 * fiber that started it when that fiber stops waiting: the next waiter of
 * this process adopts it rather than parking a second thread, and if nobody
 * waits when it returns, the lock it got is let go at once.
 *
 * Who owns the outcome is decided by `status` alone, never by which wake-up
 * a fiber happened to receive: a fiber that is interrupted or times out in
 * the same instant the call returns still sees `locked` afterwards and
 * releases it, so a granted lock can never be dropped on the floor.
 */
class Parked {
  status: "waiting" | "locked" | "failed" | "dropped" | "claimed" = "waiting"
  reason = ""
  cause: unknown = undefined
  /** Set while a fiber waits for the call to return. */
  private wake: (() => void) | undefined = undefined

  constructor(readonly slot: Slot, readonly file: LockFile) {}

  private count(delta: number): void {
    this.slot.service.parked += delta
    parkedInProcess += delta
  }

  /** Throws if koffi cannot queue the call (its queue of async calls is full). */
  start(): void {
    hookExit()
    this.slot.service.threads.start(this.file.fd, (error, result, errno) => {
      this.count(-1)
      this.settle(error, result, errno)
    })
    this.count(1)
  }

  private settle(error: unknown, result: number, errno: number): void {
    if (error == null && result === 0) {
      this.status = "locked"
    } else if (error == null && errno === native().EINTR && this.wake !== undefined) {
      try {
        return this.start()
      } catch (cause) {
        this.fail(String(cause), cause)
      }
    } else if (error == null) {
      this.fail(describeErrno(errno), undefined)
    } else {
      this.fail(String(error), error)
    }
    const wake = this.wake
    this.wake = undefined
    if (wake !== undefined) wake()
    else this.drop()
  }

  private fail(reason: string, cause: unknown): void {
    this.status = "failed"
    this.reason = reason
    this.cause = cause
  }

  /** Nobody is waiting for the outcome: let the lock go at once and forget the call. */
  private drop(): void {
    if (this.status === "locked") flockNow(this.file.fd, LOCK_UN)
    this.status = "dropped"
    if (this.slot.parked === this) this.slot.parked = undefined
    this.file.close()
    this.slot.forgetIfIdle()
  }

  /** Listens for the call's return (`wake` is called once it has returned); the result stops listening. */
  readonly returned: Listen = (wake) => {
    if (this.status !== "waiting") {
      wake()
      return noop
    }
    this.wake = wake
    return () => {
      if (this.wake === wake) this.wake = undefined
    }
  }
}

const noop = (): void => {}

/**
 * Starts listening for an event: `wake` is called once it happened (at
 * once if it already has); the function returned stops listening.
 */
type Listen = (wake: () => void) => () => void

/** A fiber's place in a slot's queue. `granted` is the truth; `wake` only prompts the fiber to look. */
interface Ticket {
  granted: boolean
  wake: (() => void) | undefined
}

/**
 * Per lock file: a FIFO mutex for the fibers of this process, and the
 * outstanding parked call, if any. Only the permit holder touches the file,
 * so the process has at most one blocking flock per lock file in flight.
 *
 * A hand-made mutex rather than `Effect.Semaphore`: the permit must be taken
 * under a timeout, and a timeout races the wait in another fiber, which can
 * win just after that fiber was handed the permit and so lose it. Here a
 * permit is handed over by setting `granted`, which the waiter reads itself
 * once its wait ends, however it ends.
 */
class Slot {
  parked: Parked | undefined = undefined
  private held = false
  private readonly queue: Array<Ticket> = []

  constructor(readonly service: Service, readonly key: string) {}

  enter(): Ticket {
    const ticket: Ticket = { granted: !this.held, wake: undefined }
    if (this.held) this.queue.push(ticket)
    else this.held = true
    return ticket
  }

  /** The fiber behind `ticket` gives up: its permit, if it was granted one in the meantime, passes on. */
  leave(ticket: Ticket): void {
    if (ticket.granted) return this.pass()
    const i = this.queue.indexOf(ticket)
    if (i >= 0) this.queue.splice(i, 1)
    this.forgetIfIdle()
  }

  /** Gives the permit to the next fiber in line, or frees it. */
  pass(): void {
    const next = this.queue.shift()
    if (next === undefined) {
      this.held = false
      return this.forgetIfIdle()
    }
    next.granted = true
    const wake = next.wake
    next.wake = undefined
    if (wake === undefined) return
    // The next acquisition may take the file lock in this call: it must not run its body inside ours (see `Acquisition.locked`).
    passing++
    try {
      wake()
    } finally {
      passing--
    }
  }

  /** Idle slots are forgotten, so that a process touching many lock files does not keep them all. */
  forgetIfIdle(): void {
    const slots = this.service.slots
    if (!this.held && this.queue.length === 0 && this.parked === undefined && slots.get(this.key) === this) {
      slots.delete(this.key)
    }
  }
}

/** Set while a permit is being passed on, inside the release of another acquisition. */
let passing = 0

const granted = (ticket: Ticket): Listen => (wake) => {
  if (ticket.granted) {
    wake()
    return noop
  }
  ticket.wake = wake
  return () => {
    if (ticket.wake === wake) ticket.wake = undefined
  }
}

/**
 * The bookkeeping of one `Locks` service: per lock file, keyed by device and
 * inode (so every spelling of the path shares one queue and one parked
 * call), the slot of its in-process queue.
 */
export class Service {
  readonly slots = new Map<string, Slot>()
  parked = 0

  /** Where blocking flock calls wait: threads of their own, not libuv's pool, which file I/O needs. */
  readonly threads = new FlockThreads()

  constructor(readonly open: (lockPath: string) => number) {}

  slotFor(key: string): Slot {
    let slot = this.slots.get(key)
    if (slot === undefined) {
      slot = new Slot(this, key)
      this.slots.set(key, slot)
    }
    return slot
  }
}

const openError = (lockPath: string, cause: unknown) => {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code
  const reason = cause instanceof Error ? cause.message : String(cause)
  let detail = ""
  if (code === "ENOENT") {
    const dir = NodePath.dirname(lockPath)
    const link = (() => {
      try {
        return NodeFs.lstatSync(lockPath).isSymbolicLink() ? NodeFs.readlinkSync(lockPath) : undefined
      } catch {
        return undefined
      }
    })()
    // O_CREAT reports ENOENT for a missing directory, which the lock never creates (the store does), or for a
    // symbolic link whose target's directory is missing.
    detail = link !== undefined
      ? ` (${lockPath} is a symbolic link to ${link}, which cannot be created)`
      : NodeFs.existsSync(dir)
      ? ""
      : ` (the directory ${dir} does not exist)`
  }
  return new StateIoError({ operation: "open lock", path: lockPath, reason: reason + detail, cause })
}

/**
 * How the lock file is opened (creating it, 0644): Node's synchronous open.
 * A reference so that tests can inject faults; it throws Node's errors.
 */
export class OpenCall extends Context.Reference<OpenCall>()("@incrementum/state/internal/lock/OpenCall", {
  defaultValue: () => ({ open: (lockPath: string): number => NodeFs.openSync(lockPath, "a+", 0o644) })
}) {}

/** A `Locks` service opening lock files as `OpenCall` says. */
export const make: Effect.Effect<Service, never, Scope.Scope> = Effect.acquireRelease(
  Effect.map(OpenCall, (call) => new Service(call.open)),
  (service) => Effect.sync(() => service.threads.close())
)

/** Opens (creating, 0644) the lock file and learns its device and inode, or says why it could not. */
const openLockFileNow = (service: Service, lockPath: string): LockFile | StateIoError => {
  let fd: number
  try {
    fd = service.open(lockPath)
  } catch (cause) {
    return openError(lockPath, cause)
  }
  const close = closeQuietly(fd)
  try {
    const stat = NodeFs.fstatSync(fd)
    return { fd, key: `${stat.dev}:${stat.ino}`, close }
  } catch (cause) {
    close()
    return new StateIoError({ operation: "stat lock", path: lockPath, reason: String(cause), cause })
  }
}

/**
 * Whether `file` is still the file at `lockPath`. A lock file removed or
 * replaced (by a person, or a tool that "cleans up") no longer excludes
 * anyone: a peer opening the path gets a new file and a lock of its own.
 */
export const isCurrent = (lockPath: string, file: LockFile): boolean => {
  try {
    const stat = NodeFs.statSync(lockPath)
    return `${stat.dev}:${stat.ino}` === file.key
  } catch {
    return false
  }
}

/**
 * A body run the moment the lock is taken (see `withLockNow`): an `Exit`
 * when it is done, else the effect left to run holding the lock.
 */
type Body = (held: Held) => Effect.Effect<unknown, unknown>

/** `body`, a throw from it a defect. */
const runBody = (body: Body, held: Held): Effect.Effect<unknown, unknown> => {
  try {
    return body(held)
  } catch (defect) {
    return Exit.die(defect)
  }
}

/**
 * The lock taken and held: the taker releases it, once it has run `rest`,
 * what the acquisition's body left to do. `rest` is undefined when no body
 * ran: none was given, or the lock was taken where a body must not run.
 */
class Taken {
  constructor(
    readonly slot: Slot,
    readonly file: LockFile,
    readonly rest: Effect.Effect<unknown, unknown> | undefined
  ) {}
}

/** The acquisition's body ran to its end the moment the lock was taken, and the lock was released in that step. */
class Ran {
  constructor(readonly exit: Exit.Exit<unknown, unknown>) {}
}

type Outcome = Taken | Ran | StateIoError | LockTimeout

/**
 * One wait for the lock, as a state machine of plain callbacks: this
 * process's queue for the lock file, then the kernel's (a parked call, of
 * this acquisition or adopted), until the lock is held, an error, or the
 * deadline. A contended update waits once per update, and the same steps
 * as Effect steps (a generator per step, a scope, an exit per wait) cost
 * about a millisecond of CPU here, more than the update's own work.
 *
 * `outcome` is the truth, whatever woke the fiber: a fiber interrupted in
 * the instant the lock is granted still finds it there, and releases it.
 */
class Acquisition {
  outcome: Outcome | undefined = undefined
  private ticket: Ticket | undefined = undefined
  private slot: Slot | undefined = undefined
  /** The lock file opened and not yet locked or closed. */
  private own: LockFile | undefined = undefined
  private unlisten: () => void = noop
  private done: () => void = noop

  constructor(
    readonly service: Service,
    readonly lockPath: string,
    readonly timeoutMillis: number,
    readonly body: Body | undefined
  ) {}

  /** Takes the lock if it is free, in this step; otherwise queues, or parks a blocking call, and returns. */
  begin(): void {
    this.enter()
  }

  /** `done` is called once `outcome` is set: at once if it is. */
  whenDone(done: () => void): void {
    if (this.outcome !== undefined) done()
    else this.done = done
  }

  private finish(outcome: Outcome): void {
    this.outcome = outcome
    this.unlisten()
    this.unlisten = noop
    const done = this.done
    this.done = noop
    done()
  }

  /** Stops waiting, the acquisition unfinished: the queue place given up, the parked call left to the slot. */
  private stop(): void {
    this.unlisten()
    this.unlisten = noop
    this.own?.close()
    this.own = undefined
    if (this.ticket !== undefined) this.slot?.leave(this.ticket)
    this.ticket = undefined
  }

  /** The deadline passed. */
  expire(): void {
    if (this.outcome !== undefined) return
    this.stop()
    this.finish(new LockTimeout({ path: this.lockPath, waitedMillis: this.timeoutMillis }))
  }

  /** The waiting fiber was interrupted: stop, unless the lock was already granted (then `outcome` holds it). */
  cancel(): void {
    if (this.outcome !== undefined) return
    this.stop()
    this.done = noop
  }

  private fail(error: StateIoError): void {
    this.stop()
    this.finish(error)
  }

  /** Opens the lock file and takes a place in this process's queue for it. */
  private enter(): void {
    const opened = openLockFileNow(this.service, this.lockPath)
    if (opened instanceof StateIoError) return this.fail(opened)
    this.own = opened
    const slot = this.service.slotFor(opened.key)
    this.slot = slot
    const ticket = slot.enter()
    this.ticket = ticket
    if (ticket.granted) return this.lockFile()
    this.listen(granted(ticket), () => this.lockFile())
  }

  /**
   * Listens for `event`; `then` runs once it happened. A listener that
   * fires at once must not have its own, newer listening overwritten by
   * the stop function returned afterwards.
   */
  private listen(event: Listen, then: () => void): void {
    let fired = false
    const unlisten = event(() => {
      fired = true
      this.unlisten = noop
      then()
    })
    if (!fired) this.unlisten = unlisten
  }

  /** Holding the queue's permit: take the file lock, waiting in the kernel's queue through a parked call. */
  private lockFile(): void {
    const slot = this.slot!
    let call = slot.parked
    if (call !== undefined) {
      // The parked call holds a description of the same file: ours is not needed.
      this.own?.close()
      this.own = undefined
    } else {
      const file = this.own ?? openLockFileNow(this.service, this.lockPath)
      this.own = undefined
      if (file instanceof StateIoError) return this.fail(file)
      // Free, the usual case: no thread. Trying once before blocking is not polling: a contended lock is
      // then waited for in the kernel's queue, as the Go tool waits.
      const errno = flockNow(file.fd, LOCK_EX | LOCK_NB)
      if (errno === 0) return this.locked(file)
      if (errno !== native().EWOULDBLOCK) {
        file.close()
        return this.fail(new StateIoError({ operation: "flock", path: this.lockPath, reason: describeErrno(errno) }))
      }
      const fresh = new Parked(slot, file)
      try {
        fresh.start()
      } catch (cause) {
        file.close()
        return this.fail(
          new StateIoError({ operation: "flock", path: this.lockPath, reason: "cannot queue the blocking call", cause })
        )
      }
      slot.parked = call = fresh
    }
    const parked = call
    this.listen(parked.returned, () => this.returned(parked))
  }

  private returned(call: Parked): void {
    const slot = this.slot!
    switch (call.status) {
      case "locked":
        call.status = "claimed"
        slot.parked = undefined
        return this.locked(call.file)
      case "failed":
        call.status = "claimed"
        slot.parked = undefined
        call.file.close()
        return this.fail(new StateIoError({ operation: "flock", path: this.lockPath, reason: call.reason, cause: call.cause }))
      default:
        // Returned between our reading `slot.parked` and listening, with nobody listening: start afresh.
        return this.lockFile()
    }
  }

  /**
   * The file lock is held, with the queue's permit. The body, if any, runs
   * now, in the step that learnt it (the taker's own, or the callback of a
   * parked call), so no fiber step lies between taking the lock and the
   * body, nor between its end and the release. Not while a permit is being
   * passed on: that is inside another acquisition's release, and a queue of
   * them would nest; the taker's fiber runs it then.
   */
  private locked(file: LockFile): void {
    const slot = this.slot!
    this.ticket = undefined
    if (!isCurrent(this.lockPath, file)) {
      // Removed or replaced while we waited: that file excludes nobody any more; lock the one there now.
      releaseNow(slot, file)
      return this.enter()
    }
    if (this.body === undefined || passing > 0) return this.finish(new Taken(slot, file, undefined))
    const rest = runBody(this.body, heldOf(this.lockPath, file))
    if (!Exit.isExit(rest)) return this.finish(new Taken(slot, file, rest))
    releaseNow(slot, file)
    this.finish(new Ran(rest))
  }
}

const releaseNow = (slot: Slot, file: LockFile): void => {
  // Explicit, though closing alone would drop the lock: it says what is meant.
  flockNow(file.fd, LOCK_UN)
  // Only now the next fiber of this process; between the two, a peer waiting in the kernel can get in.
  slot.pass()
  file.close()
}

const release = (slot: Slot, file: LockFile) => Effect.sync(() => releaseNow(slot, file))

/** What `acquire` gives: the lock held, and a check that the lock file is still the one locked. */
export interface Held {
  readonly path: string
  /** Synchronous, so that it can be made in the same step as the write it guards. */
  readonly isCurrent: () => boolean
}

const heldOf = (lockPath: string, file: LockFile): Held => ({ path: lockPath, isCurrent: () => isCurrent(lockPath, file) })

export const acquire = (
  service: Service,
  lockPath: string,
  timeout: Duration.Duration
): Effect.Effect<Held, LockTimeout | StateIoError, Scope.Scope> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(
      takeLock(service, lockPath, timeout, restore),
      (taken) => Effect.as(Effect.addFinalizer(() => release(taken.slot, taken.file)), heldOf(lockPath, taken.file))
    )
  )

/** Effect's own clock: its `sleep` is a `setTimeout`, which a wait can then set itself. */
const liveClock = Context.get(DefaultServices.liveServices, Clock.Clock)

/** `setTimeout`'s longest delay; a longer one is no timeout, as Effect's clock treats it. */
const maxTimerMillis = 2 ** 31 - 1

/**
 * Takes the lock: at once, in one synchronous step, when it is free (the
 * usual case: no fiber, timer or span), else by waiting under the timeout
 * (`waitFor`). Called uninterruptibly; `interruptibly` is applied to the
 * wait alone. Once it succeeds the caller holds the lock and must
 * `release` it.
 */
const take = (
  service: Service,
  lockPath: string,
  timeout: Duration.Duration,
  interruptibly: <A, E>(wait: Effect.Effect<A, E>) => Effect.Effect<A, E>,
  body: Body | undefined,
  parent?: Tracer.AnySpan
): Effect.Effect<Taken | Ran, LockTimeout | StateIoError> =>
  Effect.suspend(() => {
    const acquisition = new Acquisition(service, lockPath, Duration.toMillis(timeout), body)
    try {
      acquisition.begin()
    } catch (defect) {
      // A throw from native code (say, binding flock(2)): nothing may stay queued or open.
      acquisition.cancel()
      return Effect.die(defect)
    }
    const outcome = acquisition.outcome
    if (outcome === undefined) return waitInSpan(acquisition, timeout, interruptibly, parent)
    return settled(outcome)
  })

/** `take` with no body: it comes to `Taken` or fails, since only a body's acquisition can come to `Ran`. */
const takeLock = (
  service: Service,
  lockPath: string,
  timeout: Duration.Duration,
  interruptibly: <A, E>(wait: Effect.Effect<A, E>) => Effect.Effect<A, E>
) => take(service, lockPath, timeout, interruptibly, undefined) as Effect.Effect<Taken, LockTimeout | StateIoError>

/** What an acquisition came to, as the taker's effect. */
const settled = (outcome: Outcome): Effect.Effect<Taken | Ran, LockTimeout | StateIoError> =>
  outcome instanceof Taken || outcome instanceof Ran ? Effect.succeed(outcome) : Effect.fail(outcome)

/**
 * The deadlines of the lock waits on Effect's own clock, kept by one timer
 * for the process: on every contended update a timer of its own was set
 * and cleared, and Node made and dropped a timer list each time (about
 * 20 µs of CPU here). The timer keeps the process alive while a wait is
 * pending, and only then. Once no wait is pending it is left unref'd, not
 * cleared: if it fires before a later wait's deadline, it finds nothing due
 * and is set again for the earliest one.
 */
class Deadlines {
  private readonly pending = new Set<{ readonly acquisition: Acquisition; readonly at: number }>()
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  private timerAt = 0

  /** Expires `acquisition` at `at` (`monotonicMillis`) unless the function returned is called first. */
  add(acquisition: Acquisition, at: number): () => void {
    const deadline = { acquisition, at }
    this.pending.add(deadline)
    if (this.timer === undefined) this.set(at)
    else if (at < this.timerAt) {
      clearTimeout(this.timer)
      this.set(at)
    } else this.timer.ref()
    return () => {
      if (this.pending.delete(deadline) && this.pending.size === 0) this.timer?.unref()
    }
  }

  private set(at: number): void {
    this.timerAt = at
    this.timer = setTimeout(() => this.fire(), Math.max(0, at - monotonicMillis()))
  }

  private fire(): void {
    this.timer = undefined
    const now = monotonicMillis()
    const due: Array<Acquisition> = []
    let next = Infinity
    for (const deadline of this.pending) {
      if (deadline.at <= now) {
        this.pending.delete(deadline)
        due.push(deadline.acquisition)
      } else next = Math.min(next, deadline.at)
    }
    if (next !== Infinity) this.set(next)
    // Expired once the timer is set again: whatever an expiry starts finds the timer as it is.
    for (const acquisition of due) acquisition.expire()
  }
}

const deadlines = new Deadlines()

/** The live clock in milliseconds, from its monotonic reading: a wall clock set back would delay every deadline. */
const monotonicMillis = (): number => Number(liveClock.unsafeCurrentTimeNanos() / 1_000_000n)

/** Keeps the process alive until the function returned is called: for a wait with no deadline. */
const keepAlive = (): () => void => {
  const timer = setInterval(noop, maxTimerMillis)
  return () => clearInterval(timer)
}

/** The wait of an acquisition that `begin` left queued or parked. */
const waitFor = (
  acquisition: Acquisition,
  timeout: Duration.Duration,
  interruptibly: <A, E>(wait: Effect.Effect<A, E>) => Effect.Effect<A, E>
): Effect.Effect<Taken | Ran, LockTimeout | StateIoError> =>
  Effect.clockWith((clock) => {
    const millis = acquisition.timeoutMillis
    // On Effect's own clock the deadline is kept by the process's timer for deadlines (`Deadlines`); on another
    // clock (a TestClock) by a fiber sleeping on that clock. A fiber per wait cost about 150 µs of CPU here, on
    // every contended update.
    const ownTimer = clock === liveClock && millis <= maxTimerMillis
    const wait = Effect.async<void>((resume) => {
      // The flock thread does not keep the process alive (a program that is done must exit): a fiber that
      // waits must keep it alive itself, with its deadline's timer or, if there is none, one of its own.
      const stop = ownTimer ? deadlines.add(acquisition, monotonicMillis() + millis) : keepAlive()
      acquisition.whenDone(() => {
        stop()
        resume(Effect.void)
      })
      return Effect.sync(() => {
        stop()
        acquisition.cancel()
      })
    })
    // The timer fiber is forked and its stop put in place here, uninterruptibly; only the wait is interruptible.
    const timed = ownTimer || millis === Infinity ? interruptibly(wait) : Effect.flatMap(
      Effect.forkDaemon(Effect.interruptible(Effect.zipRight(clock.sleep(timeout), Effect.sync(() => acquisition.expire())))),
      (timer) =>
        Effect.ensuring(interruptibly(wait), Effect.fiberIdWith((id) => Effect.sync(() => timer.unsafeInterruptAsFork(id))))
    )
    return Effect.flatMap(Effect.exit(timed), (waited) => {
      if (Exit.isFailure(waited)) {
        // Interrupted, perhaps before the wait began, or in the instant the lock was granted: not ours to keep,
        // unless the body ran when it was granted. Then what it did stands (the interruption stays the fiber's),
        // and what it left to do is finished holding the lock.
        acquisition.cancel()
        const outcome = acquisition.outcome
        if (outcome instanceof Ran || (outcome instanceof Taken && outcome.rest !== undefined)) return settled(outcome)
        if (outcome instanceof Taken) releaseNow(outcome.slot, outcome.file)
        return Effect.failCause(waited.cause)
      }
      const outcome = acquisition.outcome
      if (outcome === undefined) return Effect.dieMessage("the lock wait ended with no outcome")
      return settled(outcome)
    })
  })

/**
 * `waitFor` in a span: for the waits only (a free lock is one system call,
 * and a span cost more than taking it). Not made the parent span of the
 * wait, which starts no span of its own: providing a parent copies and
 * compares the fiber's whole context, about 10 µs of every contended update
 * here. The span's parent is `parent` when given, else the fiber's span.
 */
const waitInSpan = (
  acquisition: Acquisition,
  timeout: Duration.Duration,
  interruptibly: <A, E>(wait: Effect.Effect<A, E>) => Effect.Effect<A, E>,
  parent: Tracer.AnySpan | undefined
): Effect.Effect<Taken | Ran, LockTimeout | StateIoError> =>
  Effect.useSpan(
    "Lock.acquire",
    {
      attributes: { lockPath: acquisition.lockPath },
      captureStackTrace: false,
      ...(parent === undefined ? undefined : { parent })
    },
    () => waitFor(acquisition, timeout, interruptibly)
  )

/**
 * Runs `use` while holding the lock, as `Effect.scoped` around `acquire`
 * would, but with no scope: providing one cost about 15 µs per update,
 * more than taking a free lock. `use` runs with the caller's
 * interruptibility; the wait for a held lock is interruptible.
 */
export const withLock = <A, E, R>(
  service: Service,
  lockPath: string,
  timeout: Duration.Duration,
  use: (held: Held) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | LockTimeout | StateIoError, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(
      takeLock(service, lockPath, timeout, Effect.interruptible),
      (taken) => Effect.ensuring(restore(use(heldOf(lockPath, taken.file))), release(taken.slot, taken.file))
    )
  )

/**
 * Runs `body` holding the lock, uninterruptibly, called in the very step
 * the lock is taken: the caller's, when the lock is free, or the callback
 * that learns that a parked wait got it. A contended lock is then held for
 * the body's own work, not for the fiber's steps that would resume it
 * first (about 80 µs here, each time the lock changes hands). When `body`
 * returns an `Exit` the lock is released in that same step; any other
 * effect is run by the fiber, holding the lock, and the lock released after.
 *
 * `body` may run outside any fiber, so it must be synchronous code that
 * needs no fiber (what it leaves for the fiber may be anything). Only the
 * wait is interruptible, as in `withLock`: a fiber interrupted before the
 * lock is taken runs nothing; once `body` ran, what it did stands. A wait's
 * span is a child of `parent` when given (the caller's own span, passed
 * rather than provided: see `waitInSpan`).
 */
export const withLockNow = <A, E>(
  service: Service,
  lockPath: string,
  timeout: Duration.Duration,
  body: (held: Held) => Effect.Effect<A, E>,
  parent?: Tracer.AnySpan
): Effect.Effect<A, E | LockTimeout | StateIoError> =>
  Effect.uninterruptible(unlessInterrupted(() =>
    Effect.flatMap(take(service, lockPath, timeout, Effect.interruptible, body, parent), (taken) => {
      if (taken instanceof Ran) return taken.exit as Exit.Exit<A, E>
      // Taken where the body must not run (see `Acquisition.locked`): the fiber runs it, still holding the lock.
      const rest = (taken.rest as Effect.Effect<A, E> | undefined) ??
        unlessInterrupted(() => runBody(body, heldOf(lockPath, taken.file)) as Effect.Effect<A, E>)
      return Effect.ensuring(rest, release(taken.slot, taken.file))
    })
  ))
