import { createRequire } from "node:module"
import { Worker } from "node:worker_threads"

const LOCK_EX = 2

// The worker loads koffi by its resolved path: an eval'd worker is CommonJS and has no module context.
const koffiPath = createRequire(import.meta.url).resolve("koffi")

/**
 * The call's state, shared with its thread: `IDLE` until a call is asked
 * for, `ASKED` while it runs, `RETURNED` once its result is in place.
 */
const STATE = 0
const FD = 1
const RESULT = 2
const ERRNO = 3
const IDLE = 0
const ASKED = 1
const RETURNED = 2

/**
 * A thread's loop. It sleeps in `Atomics.wait` until asked, and says it
 * returned with `Atomics.notify`: no message, so no copy, no event and no
 * listener on either side. `terminate` ends the wait at once.
 */
const source = `
const { workerData } = require("node:worker_threads")
const koffi = require(${JSON.stringify(koffiPath)})
const flock = koffi.load(null).func("int flock(int, int)")
const shared = new Int32Array(workerData)
for (;;) {
  // Until asked: the state may still read RETURNED, which the main thread sets back to IDLE without waking us.
  for (let state = Atomics.load(shared, ${STATE}); state !== ${ASKED}; state = Atomics.load(shared, ${STATE})) {
    Atomics.wait(shared, ${STATE}, state)
  }
  const result = flock(shared[${FD}], ${LOCK_EX})
  shared[${RESULT}] = result
  // koffi reads errno on this thread right after the call.
  shared[${ERRNO}] = result === 0 ? 0 : koffi.errno()
  Atomics.store(shared, ${STATE}, ${RETURNED})
  Atomics.notify(shared, ${STATE})
}
`

type Done = (error: unknown, result: number, errno: number) => void

/**
 * `Atomics.waitAsync`, in Node since 16; typed here because TypeScript has
 * it only in its ES2024 library, which would also admit what Node 20 lacks.
 */
const waitAsync = (Atomics as unknown as {
  readonly waitAsync: (
    array: Int32Array,
    index: number,
    value: number
  ) => { readonly async: false; readonly value: string } | { readonly async: true; readonly value: Promise<string> }
}).waitAsync

/** One thread and the memory it shares with the main thread; one call at a time. */
class FlockThread {
  private readonly shared = new Int32Array(new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT))
  private readonly worker = new Worker(source, { eval: true, workerData: this.shared.buffer })
  private done: Done | undefined = undefined

  constructor() {
    this.worker.unref()
    this.worker.on("error", (error) => this.settle(error))
    this.worker.on("exit", (code) => this.settle(new Error(`the flock thread exited (${code})`)))
  }

  /** Asks the thread for a blocking LOCK_EX on `fd`; `done` is called once, on the main thread, never in this call. */
  start(fd: number, done: Done): void {
    const shared = this.shared
    this.done = done
    shared[FD] = fd
    Atomics.store(shared, STATE, ASKED)
    Atomics.notify(shared, STATE)
    // `waitAsync` does not keep the process alive: a fiber that waits keeps it alive itself (see `Lock`).
    const waited = waitAsync(shared, STATE, ASKED)
    const returned = () => {
      if (Atomics.load(shared, STATE) !== RETURNED) return
      Atomics.store(shared, STATE, IDLE)
      this.settle(null)
    }
    // Already returned: still a later step, as a caller expects of a call that blocks.
    if (waited.async) void waited.value.then(returned)
    else queueMicrotask(returned)
  }

  private settle(error: unknown): void {
    const done = this.done
    this.done = undefined
    if (done === undefined) return
    if (error === null) done(null, this.shared[RESULT]!, this.shared[ERRNO]!)
    else done(error, -1, 0)
  }

  end(): void {
    void this.worker.terminate()
  }
}

/** How many idle threads are kept for the next wait; more are ended. */
const keepIdle = 2

/**
 * Threads of their own for blocking `flock(LOCK_EX)` calls, one per call in
 * flight. A blocking flock on one of libuv's pool threads would take a
 * thread that file I/O needs: with as many waits as pool threads, no file
 * call of the process could run, not even the lock holder's. Each thread is
 * unref'd: it does not keep the event loop alive. (Node still joins it when
 * the process exits, so a wait parked at exit would hold the exit up; see
 * `hookExit` in `lock.ts`.)
 *
 * A call and its return pass through shared memory (`Atomics`), not
 * messages: on every contended update a message each way, with its copy,
 * its event and its listeners, cost the main thread about 70 µs here, on the
 * same two CPUs as the lock holder's work (BENCHMARKS.md, issue 11).
 */
export class FlockThreads {
  private readonly idle: Array<FlockThread> = []
  private closed = false

  /**
   * Starts a blocking LOCK_EX on `fd`; `done` is called once, on the main
   * thread, with the call's result and errno, or with the error that ended
   * the thread. Throws if no thread can be started.
   */
  start(fd: number, done: Done): void {
    const thread = this.idle.pop() ?? new FlockThread()
    thread.start(fd, (error, result, errno) => {
      if (error === null) this.release(thread)
      else thread.end()
      done(error, result, errno)
    })
  }

  /** Ends the idle threads; threads still waiting end when their call returns. */
  close(): void {
    this.closed = true
    for (const thread of this.idle.splice(0)) thread.end()
  }

  private release(thread: FlockThread): void {
    if (this.closed || this.idle.length >= keepIdle) thread.end()
    else this.idle.push(thread)
  }
}
