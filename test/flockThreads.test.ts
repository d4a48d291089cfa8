/**
 * The threads that make blocking flock calls for the lock (internal): a
 * call and its return pass through shared memory, so these check what a
 * message would have made hard to get wrong: a thread asked again runs the
 * new call, never the last one again; the answer never comes in the
 * asking step; a contended call returns only once the lock is free.
 */
import { describe, expect, it } from "@effect/vitest"
import koffi from "koffi"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { FlockThreads } from "../src/internal/flockThreads.js"

const LOCK_EX = 2
const LOCK_NB = 4
const LOCK_UN = 8
const EBADF = 9

const flock = koffi.load(null).func("int flock(int, int)") as unknown as (fd: number, op: number) => number

const tempFile = () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-flock-threads-")), "state.lock")
  fs.writeFileSync(file, "")
  return file
}

interface Returned {
  readonly error: unknown
  readonly result: number
  readonly errno: number
}

/** Starts a call; `settled` says whether it has returned yet, `returned` resolves once it has. */
const call = (threads: FlockThreads, fd: number) => {
  let answer: Returned | undefined
  let resolve: (returned: Returned) => void = () => {}
  const returned = new Promise<Returned>((r) => {
    resolve = r
  })
  threads.start(fd, (error, result, errno) => {
    answer = { error, result, errno }
    resolve(answer)
  })
  return { settled: () => answer !== undefined, returned }
}

const pause = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

describe("FlockThreads", () => {
  it("takes a free lock, and answers in a later step, never in the call that asks", async () => {
    const threads = new FlockThreads()
    const file = tempFile()
    const fd = fs.openSync(file, "r")
    try {
      const started = call(threads, fd)
      expect(started.settled()).toBe(false)
      expect(await started.returned).toEqual({ error: null, result: 0, errno: 0 })
      // Held by this description now: another one cannot take it.
      const other = fs.openSync(file, "r")
      expect(flock(other, LOCK_EX | LOCK_NB)).toBe(-1)
      fs.closeSync(other)
    } finally {
      fs.closeSync(fd)
      threads.close()
    }
  })

  it("a contended call returns only once the holder lets go", async () => {
    const threads = new FlockThreads()
    const file = tempFile()
    const holder = fs.openSync(file, "r")
    const waiter = fs.openSync(file, "r")
    try {
      expect(flock(holder, LOCK_EX | LOCK_NB)).toBe(0)
      const started = call(threads, waiter)
      await pause(100)
      expect(started.settled()).toBe(false)
      expect(flock(holder, LOCK_UN)).toBe(0)
      expect(await started.returned).toEqual({ error: null, result: 0, errno: 0 })
      expect(flock(holder, LOCK_EX | LOCK_NB)).toBe(-1)
    } finally {
      fs.closeSync(holder)
      fs.closeSync(waiter)
      threads.close()
    }
  })

  it("a thread used again runs the new call on the new descriptor, not the last one again", async () => {
    const threads = new FlockThreads()
    // One after another, each descriptor closed before the next call: a thread that ran its last call again
    // would flock a closed descriptor (EBADF), or one reused by the next open, and answer too early.
    for (let i = 0; i < 20; i++) {
      const file = tempFile()
      const fd = fs.openSync(file, "r")
      const holder = fs.openSync(file, "r")
      expect(flock(holder, LOCK_EX | LOCK_NB)).toBe(0)
      const started = call(threads, fd)
      await pause(5)
      expect(started.settled()).toBe(false)
      flock(holder, LOCK_UN)
      expect(await started.returned).toEqual({ error: null, result: 0, errno: 0 })
      fs.closeSync(fd)
      fs.closeSync(holder)
    }
    threads.close()
  })

  it("reports the call's errno", async () => {
    const threads = new FlockThreads()
    try {
      expect(await call(threads, -1).returned).toEqual({ error: null, result: -1, errno: EBADF })
    } finally {
      threads.close()
    }
  })

  it("calls in flight at once each get a thread and each return", async () => {
    const threads = new FlockThreads()
    const files = Array.from({ length: 6 }, tempFile)
    const holders = files.map((file) => fs.openSync(file, "r"))
    const waiters = files.map((file) => fs.openSync(file, "r"))
    try {
      for (const fd of holders) expect(flock(fd, LOCK_EX | LOCK_NB)).toBe(0)
      const started = waiters.map((fd) => call(threads, fd))
      await pause(50)
      expect(started.map((s) => s.settled())).toEqual(started.map(() => false))
      // Let go in reverse order: each call answers for its own file.
      for (let i = holders.length - 1; i >= 0; i--) {
        flock(holders[i]!, LOCK_UN)
        expect(await started[i]!.returned).toEqual({ error: null, result: 0, errno: 0 })
      }
    } finally {
      for (const fd of [...holders, ...waiters]) fs.closeSync(fd)
      threads.close()
    }
  })
})
