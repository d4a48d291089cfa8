/**
 * Lock against real peers: other fibers of this process, Node processes
 * running the built library, and python3's fcntl.flock, which is the call the
 * Go tool makes. Waits are bounded only to keep a broken build from hanging;
 * nothing asserts how fast anything is.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as os from "node:os"
import * as Lock from "../src/Lock.js"
import { LockTimeout, StateIoError } from "../src/StateError.js"

const root = path.join(import.meta.dirname, "..")
const fixtures = path.join(import.meta.dirname, "fixtures", "lock")
const flockPy = path.join(fixtures, "flock.py")

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-lock-"))
const tempLock = () => path.join(tempDir(), "state.lock")
const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/** A real-time pause, whatever Clock the test runs with. */
const pause = (millis: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

/** Polls `check` in real time until it holds; fails the test after about `boundMillis`. */
const eventually = (what: string, check: () => boolean, boundMillis = 20_000) =>
  Effect.gen(function*() {
    for (let waited = 0; !check(); waited += 10) {
      if (waited >= boundMillis) return yield* Effect.die(new Error(`gave up waiting for ${what}`))
      yield* pause(10)
    }
  })

/** The lines a child process prints, in order; waiting for one fails if the child exits first. */
class Lines {
  private readonly queue: Array<string> = []
  private readonly waiting: Array<{ resolve: (line: string) => void; reject: (error: Error) => void }> = []
  private buffer = ""
  private ended: Error | undefined

  constructor(readonly child: ChildProcess) {
    child.stdout!.on("data", (chunk: Buffer) => {
      this.buffer += chunk.toString()
      for (let i; (i = this.buffer.indexOf("\n")) >= 0;) {
        const line = this.buffer.slice(0, i)
        this.buffer = this.buffer.slice(i + 1)
        const waiter = this.waiting.shift()
        if (waiter) waiter.resolve(line)
        else this.queue.push(line)
      }
    })
    child.on("close", (code, signal) => {
      this.ended = new Error(`${child.spawnargs.join(" ")} exited (${code ?? signal}) before answering`)
      for (const waiter of this.waiting.splice(0)) waiter.reject(this.ended)
    })
  }

  next(): Effect.Effect<string> {
    return Effect.promise(() =>
      new Promise<string>((resolve, reject) => {
        const line = this.queue.shift()
        if (line !== undefined) resolve(line)
        else if (this.ended) reject(this.ended)
        else this.waiting.push({ resolve, reject })
      })
    )
  }
}

/** A python3 process (flock.py peer) taking commands; killed when the test's scope closes. */
const pythonPeer = Effect.acquireRelease(
  Effect.sync(() => {
    const child = spawn("python3", [flockPy, "peer"], { stdio: ["pipe", "pipe", "inherit"] })
    const lines = new Lines(child)
    return {
      child,
      ask: (command: string) => Effect.suspend(() => (child.stdin!.write(`${command}\n`), lines.next()))
    }
  }),
  ({ child }) =>
    Effect.promise(() =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once("close", () => resolve())
        child.kill("SIGKILL")
      })
    )
)

const run = (file: string, args: ReadonlyArray<string>) =>
  Effect.async<{ code: number | null; stderr: string }>((resume) => {
    const child = execFile(file, args, { timeout: 120_000 }, (error, _stdout, stderr) =>
      resume(Effect.succeed({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stderr })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** The typed failure of an exit, if it has one. */
const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

/** A test on the real clock, with real files, and a scope that closes (stopping peers) when it ends. */
const live = <A, E>(name: string, test: () => Effect.Effect<A, E, Lock.Locks | Scope.Scope>) =>
  it.scopedLive(name, () => Effect.provide(test(), Lock.layer))

/** The same on the TestClock. */
const onTestClock = <A, E>(name: string, test: () => Effect.Effect<A, E, Lock.Locks | Scope.Scope>) =>
  it.scoped(name, () => Effect.provide(test(), Lock.layer))

describe("Lock", () => {
  describe("within one process", () => {
    live("a second fiber waits until the first releases", () =>
      Effect.gen(function*() {
        const lockPath = tempLock()
        const events: Array<string> = []
        const holding = yield* Deferred.make<void>()
        const done = yield* Deferred.make<void>()
        const first = yield* Effect.fork(Lock.withLock(
          Effect.gen(function*() {
            events.push("first in")
            yield* Deferred.succeed(holding, undefined)
            yield* Deferred.await(done)
            events.push("first out")
          }),
          lockPath
        ))
        yield* Deferred.await(holding)
        const second = yield* Effect.fork(Lock.withLock(Effect.sync(() => events.push("second in")), lockPath))
        // Plenty of time for the second fiber to get in, were it not excluded.
        yield* pause(100)
        expect(events).toEqual(["first in"])
        // It waits in this process's queue, not in the kernel's.
        expect(Lock.parkedCalls()).toBe(0)
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.join(first)
        yield* Fiber.join(second)
        expect(events).toEqual(["first in", "first out", "second in"])
      }))

    live("fibers take turns, first come first served, without losing an update", () =>
      Effect.gen(function*() {
        const lockPath = tempLock()
        let counter = 0
        const order: Array<number> = []
        const increment = (i: number) =>
          Lock.withLock(
            Effect.gen(function*() {
              order.push(i)
              const seen = counter
              yield* pause(1)
              counter = seen + 1
            }),
            lockPath
          )
        yield* Effect.forEach(range(20), increment, { concurrency: "unbounded", discard: true })
        expect(order).toEqual(range(20))
        yield* Effect.forEach(range(100), increment, { concurrency: "unbounded", discard: true })
        expect(counter).toBe(120)
      }))

    live("a failed acquisition gives its place up at once, though its scope stays open", () =>
      Effect.gen(function*() {
        const lockPath = tempLock()
        const holder = yield* pythonPeer
        expect(yield* holder.ask(`hold ${lockPath}`)).toBe("locked")
        // Caught inside a scope that lives on, like a service's: the failure must not keep a permit.
        const failed = yield* Effect.flip(Lock.acquire(lockPath, { timeout: "100 millis" }))
        expect(failed).toBeInstanceOf(LockTimeout)
        expect(yield* holder.ask("release")).toBe("released")
        const other = yield* Effect.either(Effect.scoped(Lock.acquire(lockPath, { timeout: "10 seconds" })))
        expect(other._tag).toBe("Right")
      }))

    live("withLock releases the lock when its effect fails, and keeps the effect's error", () =>
      Effect.gen(function*() {
        const lockPath = tempLock()
        const prober = yield* pythonPeer
        const error = yield* Effect.flip(Lock.withLock(
          Effect.zipRight(prober.ask(`try ${lockPath}`), Effect.fail("boom" as const)),
          lockPath
        ))
        expect(error).toBe("boom")
        expect(yield* prober.ask(`try ${lockPath}`)).toBe("free")
        // Data-first and data-last forms agree.
        expect(yield* prober.ask(`try ${lockPath}`).pipe(Lock.withLock(lockPath))).toBe("busy")
      }))
  })

  describe("against a python3 flock peer", () => {
    live("while we hold the lock, python3's LOCK_EX|LOCK_NB fails; once we release it, it succeeds", () =>
      Effect.gen(function*() {
        const lockPath = tempLock()
        const prober = yield* pythonPeer
        const inside = yield* Lock.withLock(prober.ask(`try ${lockPath}`), lockPath)
        expect(inside).toBe("busy")
        expect(yield* prober.ask(`try ${lockPath}`)).toBe("free")
      }))

    live("a shorter deadline set while a longer one is pending fires on time, and the longer wait goes on", () =>
      Effect.gen(function*() {
        // The process keeps every wait's deadline with one timer: a wait that starts later but ends sooner
        // must move it, or it would wait as long as the first.
        const [longPath, shortPath] = [tempLock(), tempLock()]
        const [longHolder, shortHolder] = [yield* pythonPeer, yield* pythonPeer]
        expect(yield* longHolder.ask(`hold ${longPath}`)).toBe("locked")
        expect(yield* shortHolder.ask(`hold ${shortPath}`)).toBe("locked")
        const long = yield* Effect.fork(Effect.scoped(Effect.as(Lock.acquire(longPath, { timeout: "60 seconds" }), "locked")))
        yield* eventually("the long wait to park", () => Lock.parkedCalls() === 1)
        const error = yield* Effect.flip(
          Effect.scoped(Lock.acquire(shortPath, { timeout: "300 millis" })).pipe(
            Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("the short deadline did not fire") })
          )
        )
        expect(error).toBeInstanceOf(LockTimeout)
        expect(yield* Fiber.poll(long)).toEqual(Option.none())
        expect(yield* longHolder.ask("release")).toBe("released")
        expect(yield* Fiber.join(long)).toBe("locked")
        expect(yield* shortHolder.ask("release")).toBe("released")
      }))

    live("a python3 holder makes us wait and fail with LockTimeout; once it lets go, we get the lock", () =>
      Effect.gen(function*() {
        const lockPath = tempLock()
        const holder = yield* pythonPeer
        expect(yield* holder.ask(`hold ${lockPath}`)).toBe("locked")
        const error = yield* Effect.flip(Effect.scoped(Lock.acquire(lockPath, { timeout: "300 millis" })))
        expect(error).toBeInstanceOf(LockTimeout)
        expect(error).toMatchObject({ path: lockPath, waitedMillis: 300 })
        expect(error.message).toContain(lockPath)
        // The blocking call is still parked on a pool thread; it must let go of what it gets.
        expect(Lock.parkedCalls()).toBe(1)
        expect(yield* holder.ask("release")).toBe("released")
        yield* eventually("the parked flock to return", () => Lock.parkedCalls() === 0)
        expect(yield* holder.ask(`try ${lockPath}`)).toBe("free")
        yield* Effect.scoped(Lock.acquire(lockPath, { timeout: "10 seconds" }))
        expect(yield* holder.ask(`try ${lockPath}`)).toBe("free")
      }))

    onTestClock("the timeout is measured with Effect's Clock", () =>
      Effect.gen(function*() {
        const lockPath = tempLock()
        const holder = yield* pythonPeer
        expect(yield* holder.ask(`hold ${lockPath}`)).toBe("locked")
        // An hour of real time would outlast the test: only the TestClock can end this wait.
        const waiter = yield* Effect.fork(Effect.scoped(Lock.acquire(lockPath, { timeout: "1 hour" })))
        yield* eventually("the waiter to park its flock", () => Lock.parkedCalls() === 1)
        yield* TestClock.adjust("59 minutes")
        yield* pause(20)
        expect(Option.isNone(yield* Fiber.poll(waiter))).toBe(true)
        yield* TestClock.adjust("1 minute")
        const exit = yield* Fiber.await(waiter)
        expect(failureOf(exit)).toEqual(new LockTimeout({ path: lockPath, waitedMillis: 3_600_000 }))
        expect(yield* holder.ask("release")).toBe("released")
        yield* eventually("the parked flock to return", () => Lock.parkedCalls() === 0)
        expect(yield* holder.ask(`try ${lockPath}`)).toBe("free")
      }))

    live("an interrupted waiter stops at once, and the lock is not held afterwards, even once the parked call gets it", () =>
      Effect.gen(function*() {
        const lockPath = tempLock()
        const holder = yield* pythonPeer
        expect(yield* holder.ask(`hold ${lockPath}`)).toBe("locked")
        // The default timeout (30 seconds): stopping is the interruption's doing.
        const waiter = yield* Effect.fork(Effect.scoped(Lock.acquire(lockPath)))
        yield* eventually("the waiter to park its flock", () => Lock.parkedCalls() === 1)
        const exit = yield* Fiber.interrupt(waiter).pipe(Effect.timeoutFail({
          duration: "10 seconds",
          onTimeout: () => new Error("interrupting a waiter did not return")
        }))
        expect(Exit.isInterrupted(exit)).toBe(true)
        // It returned while its blocking call is still parked in the kernel.
        expect(Lock.parkedCalls()).toBe(1)
        expect(yield* holder.ask(`try ${lockPath}`)).toBe("busy")
        expect(yield* holder.ask("release")).toBe("released")
        // The parked call gets the lock now, with nobody left to want it: it must give it straight back.
        yield* eventually("the parked flock to return", () => Lock.parkedCalls() === 0)
        expect(yield* holder.ask(`try ${lockPath}`)).toBe("free")
        expect(yield* holder.ask(`hold ${lockPath}`)).toBe("locked")
        expect(yield* holder.ask("release")).toBe("released")
      }))

    live("the next waiter adopts an interrupted waiter's parked call instead of parking another", () =>
      Effect.gen(function*() {
        const lockPath = tempLock()
        const holder = yield* pythonPeer
        const prober = yield* pythonPeer
        expect(yield* holder.ask(`hold ${lockPath}`)).toBe("locked")
        const first = yield* Effect.fork(Effect.scoped(Lock.acquire(lockPath)))
        yield* eventually("the first waiter to park its flock", () => Lock.parkedCalls() === 1)
        yield* Fiber.interrupt(first)
        const second = yield* Effect.fork(
          Lock.withLock(prober.ask(`try ${lockPath}`), lockPath, { timeout: "20 seconds" })
        )
        yield* pause(100)
        expect(Lock.parkedCalls()).toBe(1)
        expect(Option.isNone(yield* Fiber.poll(second))).toBe(true)
        expect(yield* holder.ask("release")).toBe("released")
        expect(yield* Fiber.join(second)).toBe("busy")
        yield* eventually("the parked flock to return", () => Lock.parkedCalls() === 0)
        expect(yield* prober.ask(`try ${lockPath}`)).toBe("free")
      }))

    live("timeouts that coincide with the kernel granting the lock never leave it held", () =>
      Effect.gen(function*() {
        const lockPath = tempLock()
        const holder = yield* pythonPeer
        const prober = yield* pythonPeer
        const outcomes = { acquired: 0, timedOut: 0 }
        for (const round of range(30)) {
          expect(yield* holder.ask(`hold ${lockPath}`)).toBe("locked")
          const waiter = yield* Effect.fork(Effect.scoped(Lock.acquire(lockPath, { timeout: `${15 + (round % 10)} millis` })))
          yield* pause(15)
          expect(yield* holder.ask("release")).toBe("released")
          const exit = yield* Fiber.await(waiter)
          if (Exit.isSuccess(exit)) outcomes.acquired++
          else if (failureOf(exit) instanceof LockTimeout) outcomes.timedOut++
          else expect.fail(`unexpected exit ${exit}`)
          yield* eventually("the parked flock to return", () => Lock.parkedCalls() === 0)
          expect(yield* prober.ask(`try ${lockPath}`)).toBe("free")
        }
        expect(outcomes.acquired + outcomes.timedOut).toBe(30)
      }))

    live("is not starved by peers that wait in a blocking LOCK_EX: all make progress", () =>
      Effect.gen(function*() {
        const lockPath = tempLock()
        // Two peers, each re-locking 1 ms after it unlocks: the lock passes from one to the other
        // through the kernel's queue and is almost never free, so a waiter that polled with
        // LOCK_NB would hardly ever get in; one waiting in the queue is woken with them.
        const peers = range(2).map(() => {
          const child = spawn("python3", [flockPy, "loop", lockPath, "150", "4", "1"], { stdio: ["ignore", "pipe", "inherit"] })
          return { child, lines: new Lines(child) }
        })
        yield* Effect.addFinalizer(() => Effect.sync(() => peers.forEach(({ child }) => child.kill("SIGKILL"))))
        for (const { lines } of peers) expect(yield* lines.next()).toBe("started")
        const peersDone = yield* Effect.fork(Effect.forEach(peers, ({ lines }) => lines.next()))
        let ours = 0
        while (Option.isNone(yield* Fiber.poll(peersDone))) {
          // Like the peers: hold the lock a moment, leave a gap.
          yield* Lock.withLock(pause(4), lockPath, { timeout: "20 seconds" })
          ours++
          yield* pause(1)
        }
        expect(yield* Fiber.join(peersDone)).toEqual(["done 150", "done 150"])
        expect(ours).toBeGreaterThanOrEqual(20)
      }))

    live("waits on more lock files than libuv has pool threads: file I/O still gets through, and every wait ends", () =>
      Effect.gen(function*() {
        const poolSize = Number(process.env["UV_THREADPOOL_SIZE"] ?? "") || 4
        const locks = range(poolSize + 2).map(() => tempLock())
        const data = path.join(path.dirname(locks[0]!), "data")
        fs.writeFileSync(data, "some bytes")
        const holders = yield* Effect.forEach(locks, (lockPath) =>
          Effect.flatMap(pythonPeer, (peer) => Effect.as(peer.ask(`hold ${lockPath}`), peer)))
        const before = Lock.parkedCalls()
        const waiters = yield* Effect.forEach(locks, (lockPath) =>
          Effect.fork(Effect.scoped(Lock.acquire(lockPath, { timeout: "60 seconds" }))))
        yield* eventually("every waiter to park", () => Lock.parkedCalls() === before + locks.length)
        // Were each wait on a pool thread, every pool thread would be blocked and this read would never run.
        const read = yield* Effect.promise(() => fs.promises.readFile(data, "utf8")).pipe(Effect.timeoutOption("10 seconds"))
        expect(read).toEqual(Option.some("some bytes"))
        for (const holder of holders) expect(yield* holder.ask("release")).toBe("released")
        yield* Fiber.joinAll(waiters)
        yield* eventually("the waits to end", () => Lock.parkedCalls() === before)
      }))

    live("however many fibers wait, one pool thread is parked per lock file: file I/O still gets through", () =>
      Effect.gen(function*() {
        const lockPath = tempLock()
        const data = path.join(path.dirname(lockPath), "data")
        fs.writeFileSync(data, "some bytes")
        const holder = yield* pythonPeer
        expect(yield* holder.ask(`hold ${lockPath}`)).toBe("locked")
        // More waiters than pool threads: were each to park a thread, no read could run.
        const poolSize = Number(process.env["UV_THREADPOOL_SIZE"] ?? "") || 4
        // Two spellings of one file share its queue and its parked call.
        const spellings = [lockPath, path.relative(process.cwd(), lockPath)]
        const waiters = yield* Effect.forEach(
          range(poolSize + 6),
          (i) => Effect.fork(Effect.scoped(Lock.acquire(spellings[i % 2]!, { timeout: "60 seconds" })))
        )
        yield* eventually("a waiter to park its flock", () => Lock.parkedCalls() > 0)
        yield* pause(100)
        expect(Lock.parkedCalls()).toBe(1)
        const read = yield* Effect.promise(() => fs.promises.readFile(data, "utf8")).pipe(Effect.timeoutOption("10 seconds"))
        expect(read).toEqual(Option.some("some bytes"))
        const readThroughEffect = yield* Effect.flatMap(FileSystem.FileSystem, (fsx) => fsx.readFileString(data)).pipe(
          Effect.timeoutOption("10 seconds"),
          Effect.provide(NodeFileSystem.layer)
        )
        expect(readThroughEffect).toEqual(Option.some("some bytes"))
        for (const waiter of waiters) expect(Option.isNone(yield* Fiber.poll(waiter))).toBe(true)
        expect(yield* holder.ask("release")).toBe("released")
        yield* Fiber.joinAll(waiters)
        expect(Lock.parkedCalls()).toBe(0)
        expect(yield* holder.ask(`try ${lockPath}`)).toBe("free")
      }))
  })

  describe("the lock file", () => {
    live("is created with mode 0644 (less the umask), and never removed or replaced", () =>
      Effect.gen(function*() {
        const lockPath = tempLock()
        expect(fs.existsSync(lockPath)).toBe(false)
        const inside = yield* Lock.withLock(Effect.sync(() => fs.statSync(lockPath)), lockPath)
        expect(inside.isFile()).toBe(true)
        expect(inside.mode & 0o777).toBe(0o644 & ~process.umask())
        // Every way out of an acquisition: release, a timeout, an interruption.
        yield* Effect.scoped(Lock.acquire(lockPath))
        const holder = yield* pythonPeer
        expect(yield* holder.ask(`hold ${lockPath}`)).toBe("locked")
        yield* Effect.flip(Effect.scoped(Lock.acquire(lockPath, { timeout: "50 millis" })))
        const waiter = yield* Effect.fork(Effect.scoped(Lock.acquire(lockPath)))
        yield* pause(50)
        yield* Fiber.interrupt(waiter)
        expect(yield* holder.ask("release")).toBe("released")
        yield* eventually("the parked flock to return", () => Lock.parkedCalls() === 0)
        const after = fs.statSync(lockPath)
        expect([after.ino, after.dev, after.mode]).toEqual([inside.ino, inside.dev, inside.mode])
        expect(fs.readdirSync(path.dirname(lockPath))).toEqual(["state.lock"])
      }))

    live("in a missing directory: StateIoError (open lock) that says so, and no directory is created", () =>
      Effect.gen(function*() {
        const dir = path.join(tempDir(), "missing")
        const lockPath = path.join(dir, "state.lock")
        const error = yield* Effect.flip(Effect.scoped(Lock.acquire(lockPath)))
        expect(error).toBeInstanceOf(StateIoError)
        expect(error).toMatchObject({ operation: "open lock", path: lockPath })
        expect(error._tag === "StateIoError" && error.reason).toContain("ENOENT")
        expect(error._tag === "StateIoError" && error.reason).toContain(`${dir} does not exist`)
        expect(fs.existsSync(dir)).toBe(false)
      }))

    live("a dangling symbolic link: StateIoError (open lock) that names the link, not a missing directory", () =>
      Effect.gen(function*() {
        const dir = tempDir()
        const lockPath = path.join(dir, "state.lock")
        fs.symlinkSync(path.join(dir, "gone", "target.lock"), lockPath)
        const error = yield* Effect.flip(Effect.scoped(Lock.acquire(lockPath)))
        expect(error).toMatchObject({ _tag: "StateIoError", operation: "open lock", path: lockPath })
        expect(error.message).toContain("symbolic link")
        expect(error.message).not.toContain("does not exist)")
      }))

    live("is opened with Node's own calls, whatever FileSystem the program provides", () =>
      Effect.gen(function*() {
        const lockPath = tempLock()
        yield* Effect.scoped(Lock.acquire(lockPath, { timeout: "5 seconds" }))
        expect(fs.existsSync(lockPath)).toBe(true)
      }))

    live("one queue per lock file, whatever path spells it: two spellings park one flock between them", () =>
      Effect.gen(function*() {
        const dir = tempDir()
        const lockPath = path.join(dir, "state.lock")
        const alias = `${dir}-alias`
        fs.symlinkSync(dir, alias)
        const holder = yield* pythonPeer
        expect(yield* holder.ask(`hold ${lockPath}`)).toBe("locked")
        const before = Lock.parkedCalls()
        const waiters = yield* Effect.forEach(
          [lockPath, path.join(alias, "state.lock"), path.join(dir, ".", "state.lock")],
          (spelling) => Effect.fork(Effect.scoped(Lock.acquire(spelling, { timeout: "20 seconds" }))),
          { concurrency: "unbounded" }
        )
        yield* eventually("a waiter to park", () => Lock.parkedCalls() === before + 1)
        yield* pause(100)
        expect(Lock.parkedCalls()).toBe(before + 1)
        expect(yield* holder.ask("release")).toBe("released")
        yield* Fiber.joinAll(waiters)
        expect(yield* holder.ask(`try ${lockPath}`)).toBe("free")
      }))

    live("a lock file replaced while a fiber waited is not the one it locks: it locks the file there now", () =>
      Effect.gen(function*() {
        const lockPath = tempLock()
        const holder = yield* pythonPeer
        expect(yield* holder.ask(`hold ${lockPath}`)).toBe("locked")
        const waiter = yield* Effect.fork(Effect.scoped(Effect.flatMap(
          Lock.acquire(lockPath, { timeout: "20 seconds" }),
          (held) => Effect.sync(() => held.isCurrent())
        )))
        yield* eventually("the waiter to park", () => Lock.parkedCalls() > 0)
        // Someone "cleans up" the lock file and makes a new one; then the old holder lets go.
        fs.rmSync(lockPath)
        fs.writeFileSync(lockPath, "")
        const fresh = fs.statSync(lockPath).ino
        const prober = yield* pythonPeer
        expect(yield* holder.ask("release")).toBe("released")
        expect(yield* Fiber.join(waiter)).toBe(true)
        expect(fs.statSync(lockPath).ino).toBe(fresh)
        // It held the new file's lock, and let go of it.
        expect(yield* prober.ask(`try ${lockPath}`)).toBe("free")
      }))

    live("isCurrent turns false once the lock file is removed or replaced while held", () =>
      Effect.gen(function*() {
        const lockPath = tempLock()
        const seen = yield* Effect.scoped(Effect.flatMap(Lock.acquire(lockPath), (held) =>
          Effect.sync(() => {
            const before = held.isCurrent()
            fs.renameSync(lockPath, `${lockPath}.old`)
            fs.writeFileSync(lockPath, "")
            return [before, held.isCurrent()]
          })))
        expect(seen).toEqual([true, false])
      }))
  })

  describe("process exit", () => {
    live("a program whose wait timed out exits with its own code while the lock is still held elsewhere", () =>
      Effect.gen(function*() {
        const lockPath = tempLock()
        const holder = yield* pythonPeer
        expect(yield* holder.ask(`hold ${lockPath}`)).toBe("locked")
        const exited = yield* Effect.async<{ code: number | null; signal: string | null; stdout: string }>((resume) => {
          // Killed after 30 s: a process held open by its parked flock would not exit before the holder lets go.
          const child = execFile(process.execPath, [path.join(fixtures, "timeout-exit.mjs"), lockPath], { timeout: 30_000 })
          let stdout = ""
          child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
          child.on("exit", (code, signal) => resume(Effect.succeed({ code, signal, stdout })))
        })
        expect(exited).toEqual({ code: 3, signal: null, stdout: "LockTimeout parked=1\n" })
        // The holder held throughout, and still can let go.
        expect(yield* holder.ask("release")).toBe("released")
      }))

    for (const timeout of ["infinity", "10 minutes"]) {
      live(
        `a program waiting with timeout ${timeout} stays alive until it gets the lock, then exits (nothing else keeps it alive)`,
        () =>
        Effect.gen(function*() {
          const lockPath = tempLock()
          const holder = yield* pythonPeer
          expect(yield* holder.ask(`hold ${lockPath}`)).toBe("locked")
          const exited = yield* Effect.async<{ code: number | null; stdout: string }>((resume) => {
            // Killed after 30 s: a deadline that kept the process alive after the wait would hold it 10 minutes.
            const child = execFile(process.execPath, [path.join(fixtures, "wait-forever.mjs"), lockPath, timeout], {
              timeout: 30_000
            })
            let stdout = ""
            child.stdout!.on("data", (chunk: Buffer) => {
              stdout += chunk.toString()
              // Let go only once the child waits, and a while after: long enough for an unkept process to end.
              if (stdout === "waiting\n") setTimeout(() => Effect.runFork(holder.ask("release")), 1_000)
            })
            child.on("exit", (code) => resume(Effect.succeed({ code, stdout })))
          })
          expect(exited).toEqual({ code: 0, stdout: "waiting\nlocked\n" })
        }))
    }
  })

  describe("across processes", () => {
    live("4 Node processes (dist/Lock.js) and 2 python3 processes, 100 increments each: the count is exact", () =>
      Effect.gen(function*() {
        // The Node workers run the built library: it must be built from the sources under test.
        for (const file of ["Lock", "internal/lock"]) {
          const built = path.join(root, "dist", `${file}.js`)
          const source = path.join(root, "src", `${file}.ts`)
          if (!fs.existsSync(built) || fs.statSync(built).mtimeMs < fs.statSync(source).mtimeMs) {
            return expect.fail(`${built} is missing or older than ${source}: run \`npm run build\` first`)
          }
        }
        const lockPath = tempLock()
        const counter = path.join(path.dirname(lockPath), "counter")
        fs.writeFileSync(counter, "0")
        const worker = path.join(fixtures, "counter-worker.mjs")
        const results = yield* Effect.all(
          [
            ...range(4).map(() => run(process.execPath, [worker, lockPath, counter, "100"])),
            ...range(2).map(() => run("python3", [flockPy, "counter", lockPath, counter, "100"]))
          ],
          { concurrency: "unbounded" }
        )
        expect(results).toEqual(range(6).map(() => ({ code: 0, stderr: "" })))
        expect(fs.readFileSync(counter, "utf8")).toBe("600")
      }))
  })
})
