import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Lock from "../src/Lock.js"

const fixtures = path.join(import.meta.dirname, "fixtures", "lock")
const flockPy = path.join(fixtures, "flock.py")

const tempLock = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-lock-")), "state.lock")

const run = <A, E>(effect: Effect.Effect<A, E, import("@effect/platform/FileSystem").FileSystem>) =>
  Effect.runPromise(Effect.provide(effect, NodeFileSystem.layer))

const exec = (command: string, args: ReadonlyArray<string>) =>
  new Promise<string>((resolve, reject) =>
    execFile(command, args, { timeout: 60_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${command} ${args.join(" ")}: ${error.message}\n${stderr}`)) : resolve(stdout.trim())
    )
  )

/** What a python3 peer sees: "free" if it could take the lock right now, "busy" if not. */
const peerSees = (lockPath: string) => exec("python3", [flockPy, "try", lockPath])

/** A python3 process holding the lock until `release` is called. */
const pythonHolder = async (lockPath: string) => {
  const child = spawn("python3", [flockPy, "hold", lockPath], { stdio: ["pipe", "pipe", "inherit"] })
  const lines = linesOf(child)
  expect(await lines.next()).toBe("locked")
  return {
    release: async () => {
      child.stdin!.end()
      expect(await lines.next()).toBe("released")
    }
  }
}

const linesOf = (child: ChildProcess) => {
  const queue: Array<string> = []
  const waiting: Array<(line: string) => void> = []
  let buffer = ""
  child.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString()
    let i
    while ((i = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, i)
      buffer = buffer.slice(i + 1)
      const waiter = waiting.shift()
      if (waiter) waiter(line)
      else queue.push(line)
    }
  })
  return {
    next: () =>
      new Promise<string>((resolve) => {
        const line = queue.shift()
        if (line !== undefined) resolve(line)
        else waiting.push(resolve)
      })
  }
}

describe("Lock", () => {
  it("creates the lock file with mode 0644 and never removes it", async () => {
    const lockPath = tempLock()
    await run(Effect.scoped(Lock.acquire(lockPath)))
    expect(fs.statSync(lockPath).mode & 0o777).toBe(0o644)
    await run(Effect.scoped(Lock.acquire(lockPath)))
    expect(fs.existsSync(lockPath)).toBe(true)
  })

  it("excludes a python3 flock peer while held, and frees it on release", async () => {
    const lockPath = tempLock()
    const seen = await run(Effect.gen(function*() {
      const inside = yield* Effect.scoped(Effect.zipRight(Lock.acquire(lockPath), Effect.promise(() => peerSees(lockPath))))
      const after = yield* Effect.promise(() => peerSees(lockPath))
      return [inside, after]
    }))
    expect(seen).toEqual(["busy", "free"])
  })

  it("fibers of one process exclude each other: the second waits for the first", () =>
    run(Effect.gen(function*() {
      const lockPath = tempLock()
      const events: Array<string> = []
      const held = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const first = yield* Effect.scoped(Effect.gen(function*() {
        yield* Lock.acquire(lockPath)
        events.push("first in")
        yield* Deferred.succeed(held, undefined)
        yield* Deferred.await(release)
        events.push("first out")
      })).pipe(Effect.fork)
      yield* Deferred.await(held)
      const second = yield* Effect.scoped(Effect.zipRight(
        Lock.acquire(lockPath),
        Effect.sync(() => events.push("second in"))
      )).pipe(Effect.fork)
      yield* Effect.sleep("50 millis")
      expect(events).toEqual(["first in"])
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      expect(events).toEqual(["first in", "first out", "second in"])
    })))

  it("waits for a python3 holder, times out with LockTimeout, then gets the lock once it is released", async () => {
    const lockPath = tempLock()
    const holder = await pythonHolder(lockPath)
    const error = await run(Effect.flip(Effect.scoped(Lock.acquire(lockPath, { timeout: "200 millis" }))))
    expect(error._tag).toBe("LockTimeout")
    expect(error._tag === "LockTimeout" && [error.path, error.waitedMillis]).toEqual([lockPath, 200])
    expect(error.message).toContain(lockPath)
    // The timed-out wait must not keep the lock from python, nor take it when python lets go.
    await holder.release()
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(await peerSees(lockPath)).toBe("free")
    await run(Effect.scoped(Lock.acquire(lockPath, { timeout: "5 seconds" })))
  })

  it("an interrupted waiter stops promptly and never holds the lock afterwards", async () => {
    const lockPath = tempLock()
    const holder = await pythonHolder(lockPath)
    const started = Date.now()
    await run(Effect.gen(function*() {
      const waiter = yield* Effect.scoped(Effect.zipRight(Lock.acquire(lockPath), Effect.never)).pipe(Effect.fork)
      yield* Effect.sleep("100 millis")
      yield* Fiber.interrupt(waiter)
    }))
    expect(Date.now() - started).toBeLessThan(5_000)
    // The call stays parked on a pool thread, which would keep the process from exiting.
    expect(Lock.parkedCalls()).toBe(1)
    await holder.release()
    // The call parked in the kernel gets the lock when python lets go, and must give it straight back.
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(await peerSees(lockPath)).toBe("free")
    expect(Lock.parkedCalls()).toBe(0)
  })

  it("a waiter after an interrupted one adopts its parked call and gets the lock", async () => {
    const lockPath = tempLock()
    const holder = await pythonHolder(lockPath)
    const order = await run(Effect.gen(function*() {
      const first = yield* Effect.scoped(Lock.acquire(lockPath)).pipe(Effect.fork)
      yield* Effect.sleep("50 millis")
      yield* Fiber.interrupt(first)
      const second = yield* Effect.scoped(Effect.zipRight(
        Lock.acquire(lockPath, { timeout: "10 seconds" }),
        Effect.promise(() => peerSees(lockPath))
      )).pipe(Effect.fork)
      yield* Effect.sleep("50 millis")
      yield* Effect.promise(() => holder.release())
      return yield* Fiber.join(second)
    }))
    expect(order).toBe("busy")
    expect(await peerSees(lockPath)).toBe("free")
  })

  it("many waiting fibers park at most one pool thread: file I/O still completes", async () => {
    const lockPath = tempLock()
    const holder = await pythonHolder(lockPath)
    const readable = path.join(path.dirname(lockPath), "data")
    fs.writeFileSync(readable, "x".repeat(1000))
    const result = await run(Effect.gen(function*() {
      const waiters = yield* Effect.forEach(
        Array.from({ length: 12 }),
        () => Effect.scoped(Lock.acquire(lockPath, { timeout: "30 seconds" })).pipe(Effect.fork)
      )
      yield* Effect.sleep("100 millis")
      // With the default 4 pool threads, 12 parked flock calls would leave none for this read.
      const read = yield* Effect.promise(() => fs.promises.readFile(readable, "utf8")).pipe(
        Effect.timeout("5 seconds"),
        Effect.option
      )
      yield* Effect.promise(() => holder.release())
      yield* Fiber.joinAll(waiters)
      return read
    }))
    expect(result._tag).toBe("Some")
  })

  it("is not starved by a peer that waits in a blocking LOCK_EX", async () => {
    const lockPath = tempLock()
    const peer = spawn("python3", [flockPy, "loop", lockPath, "300"], { stdio: ["ignore", "pipe", "inherit"] })
    const lines = linesOf(peer)
    expect(await lines.next()).toBe("started")
    let ours = 0
    let peerDone = false
    const finished = lines.next().then((line) => {
      peerDone = line === "done"
    })
    await run(Effect.gen(function*() {
      // Take the lock repeatedly while the peer hammers it; count how often we got in before it finished.
      while (ours < 50) {
        yield* Effect.scoped(Lock.acquire(lockPath, { timeout: "20 seconds" }))
        if (!peerDone) ours++
        else break
        yield* Effect.sleep("1 millis")
      }
    }))
    await finished
    expect(ours).toBeGreaterThan(5)
  })

  it("4 Node processes and 2 python3 processes increment one counter without losing an update", async () => {
    const lockPath = tempLock()
    const counter = path.join(path.dirname(lockPath), "counter")
    fs.writeFileSync(counter, "0")
    const worker = path.join(fixtures, "counter-worker.mjs")
    await Promise.all([
      ...Array.from({ length: 4 }, () => exec(process.execPath, [worker, lockPath, counter, "100"])),
      ...Array.from({ length: 2 }, () => exec("python3", [flockPy, "counter", lockPath, counter, "100"]))
    ])
    expect(fs.readFileSync(counter, "utf8")).toBe("600")
  })
})
