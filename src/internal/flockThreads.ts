import { createRequire } from "node:module"
import { Worker } from "node:worker_threads"

const LOCK_EX = 2

// The worker loads koffi by its resolved path: an eval'd worker is CommonJS and has no module context.
const koffiPath = createRequire(import.meta.url).resolve("koffi")

const source = `
const { parentPort } = require("node:worker_threads")
const koffi = require(${JSON.stringify(koffiPath)})
const flock = koffi.load(null).func("int flock(int, int)")
parentPort.on("message", (fd) => {
  const result = flock(fd, ${LOCK_EX})
  // koffi reads errno on this thread right after the call.
  parentPort.postMessage({ result, errno: result === 0 ? 0 : koffi.errno() })
})
`

/** How many idle threads are kept for the next wait; more are ended. */
const keepIdle = 2

/**
 * Threads of their own for blocking `flock(LOCK_EX)` calls, one per call in
 * flight. A blocking flock on one of libuv's pool threads would take a
 * thread that file I/O needs: with as many waits as pool threads, no file
 * call of the process could run, not even the lock holder's. Each thread is
 * unref'd: it does not keep the event loop alive. (Node still joins it when
 * the process exits, so a wait parked at exit still holds the exit up; see
 * `Lock.exitImmediately`.)
 */
export class FlockThreads {
  private readonly idle: Array<Worker> = []
  private closed = false

  /**
   * Starts a blocking LOCK_EX on `fd`; `done` is called once, on the main
   * thread, with the call's result and errno, or with the error that ended
   * the thread. Throws if no thread can be started.
   */
  start(fd: number, done: (error: unknown, result: number, errno: number) => void): void {
    const worker = this.idle.pop() ?? this.spawn()
    const finish = (error: unknown, result: number, errno: number) => {
      worker.off("message", onMessage)
      worker.off("error", onError)
      worker.off("exit", onExit)
      if (error === null) this.release(worker)
      else void worker.terminate()
      done(error, result, errno)
    }
    const onMessage = (message: { readonly result: number; readonly errno: number }) =>
      finish(null, message.result, message.errno)
    const onError = (error: unknown) => finish(error, -1, 0)
    const onExit = (code: number) => finish(new Error(`the flock thread exited (${code})`), -1, 0)
    worker.on("message", onMessage)
    worker.on("error", onError)
    worker.on("exit", onExit)
    // After the listeners: a "message" listener refs the worker's port again.
    worker.unref()
    worker.postMessage(fd)
  }

  /** Ends the idle threads; threads still waiting end when their call returns. */
  close(): void {
    this.closed = true
    for (const worker of this.idle.splice(0)) void worker.terminate()
  }

  private spawn(): Worker {
    const worker = new Worker(source, { eval: true })
    worker.unref()
    return worker
  }

  private release(worker: Worker): void {
    if (this.closed || this.idle.length >= keepIdle) void worker.terminate()
    else this.idle.push(worker)
  }
}
