import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as FileSystem from "@effect/platform/FileSystem"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Lock from "../src/Lock.js"
import * as Schema from "../src/Schema.js"
import * as Store from "../src/Store.js"
import { stateStoreContract } from "./contract/StateStoreContract.js"
import { type Fault, faultyFileSystem, type Hook } from "./support/faults.js"
import { Calls, type FileCalls, nodeFileCalls } from "../src/internal/fileBackend.js"
import { decodeOrFail } from "./fixtures/workers/harness.js"
import { openFilesUnder } from "./support/fds.js"

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-state-"))
const golden = (name: string) => fs.readFileSync(path.join(import.meta.dirname, "fixtures", "golden", name))

stateStoreContract(
  "file backend",
  Effect.suspend(() => Store.makeFileBackend({ dir: tempDir() })).pipe(Effect.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer)))
)
stateStoreContract("memory backend", Effect.suspend(() => Store.makeMemoryBackend()))

const runIn = <A, E>(dir: string, effect: Effect.Effect<A, E, Store.StateStore>) =>
  Effect.runPromise(Effect.provide(effect, Store.layerNode({ dir })))

const load = Effect.flatMap(Store.StateStore, (store) => store.load)
const addRepo = (name: string) =>
  Effect.flatMap(Store.StateStore, (store) =>
    store.update((state) => ({ ...state, repos: { ...state.repos, [name]: { sourcePath: `/src/${name}` } } })))

const addRepoTo = (name: string) => (state: Schema.State): Schema.State => ({
  ...state,
  repos: { ...state.repos, [name]: { sourcePath: `/src/${name}` } }
})

const increment = (state: Schema.State): Schema.State => {
  const counter = state.unknownFields?.["counter"]
  return { ...state, unknownFields: { ...state.unknownFields, counter: (typeof counter === "number" ? counter : 0) + 1 } }
}

const tempFiles = (dir: string) => fs.readdirSync(dir).filter((name) => name.startsWith("state.json.tmp"))

describe("layerNode on disk", () => {
  it("writes exactly the Go tool's bytes, mode 0600, and creates state.lock (0644) and the directory (0755)", async () => {
    const dir = path.join(tempDir(), "nested", "incrementum")
    const state = Schema.decodeEither(golden("full_realistic.input.json")).pipe((e) => e._tag === "Right" ? e.right : undefined)!
    await runIn(dir, Effect.flatMap(Store.StateStore, (store) => store.save(state)))
    expect(fs.readFileSync(path.join(dir, "state.json"), "utf8")).toBe(golden("full_realistic.expected.json").toString())
    expect(fs.statSync(path.join(dir, "state.json")).mode & 0o777).toBe(0o600)
    expect(fs.statSync(path.join(dir, "state.lock")).mode & 0o777).toBe(0o644)
    expect(fs.statSync(dir).mode & 0o777).toBe(0o755)
    expect(tempFiles(dir)).toEqual([])
  })

  it("reads a file written by the Go tool and preserves it through an unrelated update", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "state.json"), golden("full_realistic.expected.json"))
    await runIn(dir, addRepo("new"))
    const after = JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8"))
    const before = JSON.parse(golden("full_realistic.expected.json").toString())
    expect(after.jobs).toEqual(before.jobs)
    expect(after.workspaces).toEqual(before.workspaces)
    expect(Object.keys(after.repos)).toEqual([...Object.keys(before.repos), "new"].sort())
  })

  it.each(["error_trailing_comma", "error_time_feb30", "error_utf8_bom"])(
    "%s: a corrupt file is a CorruptStateFile for load, update and save, and keeps its bytes",
    async (name) => {
      const dir = tempDir()
      const file = path.join(dir, "state.json")
      const bytes = golden(`${name}.input.json`)
      fs.writeFileSync(file, bytes)
      const errors = await runIn(dir, Effect.gen(function*() {
        const store = yield* Store.StateStore
        return [
          yield* Effect.flip(store.load),
          yield* Effect.flip(store.update((s) => s)),
          yield* Effect.flip(store.save(Schema.empty))
        ]
      }))
      for (const error of errors) {
        expect(error._tag).toBe("CorruptStateFile")
        expect(error.message).toContain(file)
      }
      expect(fs.readFileSync(file).equals(bytes)).toBe(true)
      expect(tempFiles(dir)).toEqual([])
    }
  )

  it("a legacy prompt is dropped on load by a locked rewrite", async () => {
    const dir = tempDir()
    const file = path.join(dir, "state.json")
    fs.writeFileSync(file, golden("legacy_prompt.input.json"))
    const state = await runIn(dir, load)
    expect(Object.keys(state.opencodeSessions).length).toBe(3)
    expect(fs.readFileSync(file, "utf8")).toBe(golden("legacy_prompt.expected.json").toString())
    expect(fs.existsSync(path.join(dir, "state.lock"))).toBe(true)
  })

  it("temp files left by crashed writers are removed by the next write", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "state.json.tmp123456"), "{\"half\": ")
    fs.writeFileSync(path.join(dir, "state.json.tmp99"), "")
    fs.writeFileSync(path.join(dir, "state.json.tmpnotours"), "keep")
    await runIn(dir, addRepo("a"))
    expect(tempFiles(dir)).toEqual(["state.json.tmpnotours"])
  })

  it("sees changes made by another writer, and does not re-read an unchanged file", async () => {
    const dir = tempDir()
    const file = path.join(dir, "state.json")
    const opens: Array<string> = []
    const counting = Layer.effect(
      FileSystem.FileSystem,
      Effect.map(FileSystem.FileSystem, (real) => ({
        ...real,
        open: (p: string, options?: FileSystem.OpenFileOptions) => {
          opens.push(p)
          return real.open(p, options)
        }
      }))
    ).pipe(Layer.provide(NodeFileSystem.layer))
    const layer = Store.layer({ dir }).pipe(Layer.provide(Layer.merge(counting, NodePath.layer)))
    // Every file gets the same size and the same mtime: only the inode tells them apart.
    const then = new Date(Date.now() - 60_000)
    const write = (json: string) => {
      fs.writeFileSync(file + ".new", json)
      fs.utimesSync(file + ".new", then, then)
      fs.renameSync(file + ".new", file)
    }
    await Effect.runPromise(Effect.provide(
      Effect.gen(function*() {
        write(`{"repos": {"a": {"source_path": "/a"}}}`)
        const first = yield* load
        const readsAfterFirst = opens.filter((p) => p === file).length
        const second = yield* load
        expect(second).toBe(first)
        expect(opens.filter((p) => p === file).length).toBe(readsAfterFirst)
        // Another writer replaces the file: the next load sees it.
        write(`{"repos": {"b": {"source_path": "/b"}}}`)
        expect(Object.keys((yield* load).repos)).toEqual(["b"])
        // Many replacements in a row are each seen, never served stale.
        for (const name of ["c", "d", "e", "f"]) {
          write(`{"repos": {"${name}": {"source_path": "/${name}"}}}`)
          expect(Object.keys((yield* load).repos)).toEqual([name])
        }
      }),
      layer
    ))
  })

  it("after another writer changes one job, the records it did not change are the objects the store already held", async () => {
    const dir = tempDir()
    const file = path.join(dir, "state.json")
    fs.writeFileSync(file, golden("full_realistic.expected.json"))
    await Effect.runPromise(Effect.provide(
      Effect.gen(function*() {
        const before = yield* load
        const [changedId, job] = Object.entries(before.jobs)[0]!
        // Another writer (here: the Go tool's bytes of the same change) replaces the file.
        const edited = { ...before, jobs: { ...before.jobs, [changedId]: { ...job, agent: `${job.agent}-x` } } }
        fs.writeFileSync(file + ".other", Schema.encode(edited))
        fs.renameSync(file + ".other", file)
        const after = yield* load
        // Exactly what a fresh decode of the file gives...
        expect(after).toStrictEqual(decodeOrFail(fs.readFileSync(file), "the other writer's file"))
        expect(after.jobs[changedId]!.agent).toBe(`${job.agent}-x`)
        // ...sharing every unchanged record with the state held before, so a consumer comparing records
        // by identity sees exactly what changed, and the next write encodes only that.
        expect(after.jobs[changedId]).not.toBe(before.jobs[changedId])
        for (const [id, record] of Object.entries(after.jobs)) if (id !== changedId) expect(record).toBe(before.jobs[id])
        for (const [name, repo] of Object.entries(after.repos)) expect(repo).toBe(before.repos[name])
        for (const [name, workspace] of Object.entries(after.workspaces)) expect(workspace).toBe(before.workspaces[name])
      }),
      Store.layerNode({ dir })
    ))
  })

  it("a state.json that is a directory is a StateIoError and nothing is touched", async () => {
    const dir = tempDir()
    fs.mkdirSync(path.join(dir, "state.json"))
    const error = await runIn(dir, Effect.flip(addRepo("a")))
    expect(error._tag).toBe("StateIoError")
    expect(fs.statSync(path.join(dir, "state.json")).isDirectory()).toBe(true)
  })

  const faults: ReadonlyArray<Fault> = [
    { operation: "open", match: /state\.json\.tmp/, errno: "ENOSPC" },
    { operation: "writeAll", match: /state\.json\.tmp/, errno: "EIO" },
    { operation: "sync", match: /state\.json\.tmp/, errno: "EIO" },
    { operation: "rename", match: /state\.json\.tmp/, errno: "EXDEV" },
    { operation: "open", match: /state\.json\.tmp/, errno: "EACCES" },
    { operation: "open", match: /state\.json\.tmp/, errno: "EROFS" }
  ]
  it.each(faults)("a failing $operation ($errno) is a StateIoError that leaves the old file and no temp file", async (fault) => {
    const dir = tempDir()
    const file = path.join(dir, "state.json")
    fs.writeFileSync(file, golden("full_realistic.expected.json"))
    const layer = Store.layer({ dir }).pipe(Layer.provide(Layer.merge(faultyFileSystem([fault]), NodePath.layer)))
    const error = await Effect.runPromise(Effect.provide(Effect.flip(addRepo("x")), layer))
    expect(error._tag).toBe("StateIoError")
    expect(fs.readFileSync(file).equals(golden("full_realistic.expected.json"))).toBe(true)
    expect(tempFiles(dir)).toEqual([])
  })

  it("a failing directory fsync is reported (durability unknown), with a decodable file and no temp file", async () => {
    const dir = tempDir()
    const file = path.join(dir, "state.json")
    fs.writeFileSync(file, golden("full_realistic.expected.json"))
    const hits: Array<string> = []
    const fault: Fault = { operation: "sync", match: new RegExp(`${path.basename(dir)}$`), errno: "EIO" }
    const layer = Store.layer({ dir }).pipe(Layer.provide(Layer.merge(faultyFileSystem([fault], hits), NodePath.layer)))
    const error = await Effect.runPromise(Effect.provide(Effect.flip(addRepo("x")), layer))
    expect(hits.length).toBe(1)
    expect(error._tag === "StateIoError" && error.operation).toBe("fsync directory")
    // The update landed: the error says so, so that no caller retries it.
    expect(error._tag === "StateIoError" && error.committed).toBe(true)
    expect(error.message).toContain("the new state is in place")
    const state = Schema.decodeEither(fs.readFileSync(file))
    expect(state._tag).toBe("Right")
    expect(tempFiles(dir)).toEqual([])
  })
})

describe("layerNode: honest outcomes and owned handles", () => {
  const realistic = golden("full_realistic.expected.json")
  const reposOf = (file: string) => Object.keys(decodeOrFail(fs.readFileSync(file), "state.json").repos)
  const withHook = (dir: string, hook: Hook) =>
    Store.layer({ dir, lockTimeout: "10 seconds" }).pipe(Layer.provide(Layer.merge(faultyFileSystem([], [], hook, "async"), NodePath.layer)))

  it("save rewrites a file not in the Go tool's form; an update whose f returns its state does not", async () => {
    const dir = tempDir()
    const file = path.join(dir, "state.json")
    const compact = JSON.stringify(JSON.parse(realistic.toString()))
    fs.writeFileSync(file, compact)
    await runIn(dir, Effect.flatMap(Store.StateStore, (store) => store.update((state) => state)))
    expect(fs.readFileSync(file, "utf8")).toBe(compact)
    await runIn(dir, Effect.gen(function*() {
      const store = yield* Store.StateStore
      yield* store.save(yield* store.load)
    }))
    expect(fs.readFileSync(file, "utf8")).toBe(realistic.toString())
  })

  it("an update interrupted at any of its file calls leaves the old file and reports interruption, or the new one and success; no descriptor stays open", async () => {
    // The calls one update makes, in order, as the hook sees them.
    const probe = tempDir()
    fs.writeFileSync(path.join(probe, "state.json"), realistic)
    const steps: Array<string> = []
    await Effect.runPromise(Effect.provide(
      Effect.flatMap(Store.StateStore, (store) => store.update(addRepoTo("x"))),
      withHook(probe, (operation, p) => Effect.sync(() => steps.push(`${operation} ${path.basename(p)}`)))
    ))
    expect(steps.length).toBeGreaterThan(5)
    const outcomes: Array<string> = []
    for (let k = 0; k < steps.length; k++) {
      const dir = tempDir()
      const file = path.join(dir, "state.json")
      fs.writeFileSync(file, realistic)
      let calls = 0
      const reached = Deferred.unsafeMake<void>(undefined as never)
      const go = Deferred.unsafeMake<void>(undefined as never)
      const hook: Hook = () =>
        Effect.suspend(() => calls++ === k ? Effect.zipRight(Deferred.succeed(reached, undefined), Deferred.await(go)) : Effect.void)
      const exit = await Effect.runPromise(Effect.provide(
        Effect.gen(function*() {
          const store = yield* Store.StateStore
          const fiber = yield* Effect.fork(store.update(addRepoTo("x")))
          yield* Deferred.await(reached)
          yield* Fiber.interruptFork(fiber)
          yield* Deferred.succeed(go, undefined)
          return yield* Fiber.await(fiber)
        }),
        withHook(dir, hook)
      ))
      const landed = reposOf(file).includes("x")
      outcomes.push(`${steps[k]}: ${landed ? "new" : "old"}`)
      expect(Exit.isSuccess(exit), `${steps[k]}: the outcome must match the file`).toBe(landed)
      if (!landed) expect(Exit.isInterrupted(exit)).toBe(true)
      if (!landed) expect(fs.readFileSync(file).equals(realistic)).toBe(true)
      expect(tempFiles(dir)).toEqual([])
      expect(openFilesUnder(dir), `${steps[k]}: descriptors left open`).toEqual([])
    }
    console.log(`interrupted at each step: ${outcomes.join(", ")}`)
  })

  it("a load stuck in a read can be timed out, and leaves no descriptor open", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "state.json"), realistic)
    let released = false
    const go = Deferred.unsafeMake<void>(undefined as never)
    // The read hangs until released, which happens by itself only after a while (so a load that
    // cannot be interrupted shows up as a late timeout, not as a hung test).
    const hook: Hook = (operation) => operation === "read" ? Deferred.await(go) : Effect.void
    const timer = setTimeout(() => {
      released = true
      Effect.runSync(Deferred.succeed(go, undefined))
    }, 3_000)
    const result = await Effect.runPromise(Effect.provide(
      Effect.gen(function*() {
        const store = yield* Store.StateStore
        const timedOut = yield* Effect.exit(Effect.timeout(store.load, "100 millis"))
        return { timedOut, releasedBeforeTimeout: released }
      }),
      withHook(dir, hook)
    ))
    clearTimeout(timer)
    expect(Exit.isFailure(result.timedOut)).toBe(true)
    expect(result.releasedBeforeTimeout).toBe(false)
    expect(openFilesUnder(dir)).toEqual([])
  })

  it("updates under short timeouts: every update that reported success landed, and no other did; no descriptor stays open", async () => {
    const dir = tempDir()
    const reported = await Effect.runPromise(Effect.provide(
      Effect.gen(function*() {
        const store = yield* Store.StateStore
        let succeeded = 0
        for (let i = 0; i < 150; i++) {
          const exit = yield* Effect.exit(Effect.timeout(store.update(increment), `${1 + (i % 10)} millis`))
          if (Exit.isSuccess(exit)) succeeded++
        }
        return succeeded
      }),
      Store.layerNode({ dir })
    ))
    const written = decodeOrFail(fs.readFileSync(path.join(dir, "state.json")), "state.json").unknownFields?.["counter"]
    expect(written).toBe(reported)
    expect(openFilesUnder(dir)).toEqual([])
  })
})

describe("layerNode: a lock file removed while held", () => {
  it("the holder's update fails with LockLost and writes nothing; the update of the process that locked the new file stands", async () => {
    const dir = tempDir()
    const lockPath = path.join(dir, "state.lock")
    const inside = Deferred.unsafeMake<void>(undefined as never)
    const resume = Deferred.unsafeMake<void>(undefined as never)
    // Two stores, each with its own lock bookkeeping: two processes, as far as the kernel can tell.
    const holder = Effect.runPromiseExit(Effect.provide(
      Effect.flatMap(Store.StateStore, (store) =>
        store.updateEffect((state) =>
          Effect.zipRight(Deferred.succeed(inside, undefined), Effect.as(Deferred.await(resume), increment(state)))
        )),
      Store.layerNode({ dir })
    ))
    await Effect.runPromise(Deferred.await(inside))
    fs.rmSync(lockPath)
    await runIn(dir, Effect.flatMap(Store.StateStore, (store) => store.update(increment)))
    await Effect.runPromise(Deferred.succeed(resume, undefined))
    const exit = await holder
    expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error._tag).toBe("LockLost")
    expect(decodeOrFail(fs.readFileSync(path.join(dir, "state.json")), "state.json").unknownFields?.["counter"]).toBe(1)
    expect(tempFiles(dir)).toEqual([])
  })
})

describe("layerNode: a load racing a write", () => {
  it("a load that yields anywhere between its read and its end never takes changes back to an older state", async () => {
    const dir = tempDir()
    const version = (state: Schema.State) => Number(state.repos["r0"]?.sourcePath.slice(2) ?? "0")
    const result = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      // Polling once an hour: only this store's own reads and writes are published.
      const store = yield* Store.make({ dir, watch: { mode: "poll", pollInterval: "1 hours" } })
      let written = 0
      const write = store.modifyRecord("repos", "r0", () =>
        Effect.sync(() => [undefined, Option.some({ sourcePath: `/v${++written}` })] as const))
      yield* write
      const seen: Array<number> = []
      const subscribed = yield* Deferred.make<void>()
      yield* Effect.forkScoped(Stream.runForEach(store.changes, (state) =>
        Effect.zipRight(Effect.sync(() => seen.push(version(state))), Deferred.succeed(subscribed, undefined))))
      yield* Deferred.await(subscribed)
      // Effect's runtime yields after a budget of steps: with each budget from 12 to 120 (below about 10 it
      // makes no progress at all) the load yields at a different point of its way, while the write runs.
      const stale: Array<number> = []
      for (let budget = 12; budget <= 120; budget++) {
        const load = yield* Effect.fork(Effect.withMaxOpsBeforeYield(store.load, budget))
        const writing = yield* Effect.fork(write)
        yield* Fiber.join(load)
        yield* Fiber.join(writing)
        // The subscriber catches up with the last write; an older state published after it would stay.
        for (let i = 0; i < 100 && seen[seen.length - 1] !== written; i++) {
          yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 2)))
        }
        if (seen[seen.length - 1] !== written) stale.push(budget)
      }
      return { seen, stale }
    })).pipe(Effect.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))))
    expect(result.stale).toEqual([])
    expect(result.seen.filter((v, i) => i > 0 && v < result.seen[i - 1]!)).toEqual([])
  })
})

describe("layerNode: the directory fsync", () => {
  it("goes to the directory the rename went into, also after the state directory was replaced", async () => {
    const dir = tempDir()
    const synced: Array<number> = []
    const calls: FileCalls = {
      ...nodeFileCalls,
      fsyncDirectory: (d) => {
        const fd = fs.openSync(d, "r")
        try {
          synced.push(fs.fstatSync(fd).ino)
          fs.fsyncSync(fd)
        } finally {
          fs.closeSync(fd)
        }
      }
    }
    const layer = Store.layerNode({ dir }).pipe(Layer.provide(Layer.succeed(Calls, calls)))
    await Effect.runPromise(Effect.provide(
      Effect.gen(function*() {
        const store = yield* Store.StateStore
        yield* store.update(addRepoTo("a"))
        expect(synced).toEqual([fs.statSync(dir).ino])
        // The directory is moved away and a new one made in its place, as a restore from backup would.
        fs.renameSync(dir, `${dir}.old`)
        fs.mkdirSync(dir)
        yield* store.update(addRepoTo("b"))
        expect(fs.existsSync(path.join(dir, "state.json"))).toBe(true)
        expect(synced[1]).toBe(fs.statSync(dir).ino)
        expect(synced[1]).not.toBe(synced[0])
      }),
      layer
    ))
  })
})

describe("layerNode: an update that waited for the lock", () => {
  const counterIn = (dir: string) =>
    decodeOrFail(fs.readFileSync(path.join(dir, "state.json")), "state.json").unknownFields?.["counter"]

  /**
   * Store `holder` (a lock bookkeeping of its own: another process, as far
   * as the kernel can tell) holds the lock inside an update until `release`
   * is completed; `inside` is completed once it holds it.
   */
  const holding = (dir: string) =>
    Effect.gen(function*() {
      const inside = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(Effect.provide(
        Effect.flatMap(Store.StateStore, (store) =>
          store.updateEffect((state) =>
            Effect.zipRight(Deferred.succeed(inside, undefined), Effect.as(Deferred.await(release), increment(state)))
          )),
        Store.layerNode({ dir })
      ))
      yield* Deferred.await(inside)
      return { holder, release: Deferred.succeed(release, undefined) }
    })

  /** Until `n` blocking flock calls are parked in this process (bounded, so a broken build fails rather than hangs). */
  const parked = (n: number) =>
    Effect.gen(function*() {
      for (let waited = 0; Lock.parkedCalls() !== n; waited += 5) {
        if (waited > 20_000) return yield* Effect.dieMessage(`never saw ${n} parked calls`)
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
      }
    })

  /** An update by a store of its own (another process), forked once the lock is held, and parked behind it. */
  const waitingUpdate = (dir: string, f: (state: Schema.State) => Schema.State) =>
    Effect.gen(function*() {
      const waiter = yield* Effect.fork(Effect.provide(
        Effect.flatMap(Store.StateStore, (store) => store.update(f)),
        Store.layerNode({ dir })
      ))
      yield* parked(1)
      return waiter
    })

  it.live("writes once the holder lets go; a throwing f is a defect, writes nothing and lets the lock go", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const first = yield* holding(dir)
      const waiter = yield* waitingUpdate(dir, increment)
      yield* first.release
      yield* Fiber.join(first.holder)
      yield* Fiber.join(waiter)
      expect(counterIn(dir)).toBe(2)

      const second = yield* holding(dir)
      const thrower = yield* waitingUpdate(dir, () => {
        throw new Error("f failed")
      })
      yield* second.release
      yield* Fiber.join(second.holder)
      const thrown = yield* Fiber.await(thrower)
      expect(Exit.isFailure(thrown) && Cause.pretty(thrown.cause)).toContain("f failed")
      expect(counterIn(dir)).toBe(3)
      // The lock was let go: another update gets it at once.
      yield* Effect.provide(
        Effect.flatMap(Store.StateStore, (store) => store.update(increment)),
        Store.layerNode({ dir, lockTimeout: "5 seconds" })
      )
      expect(counterIn(dir)).toBe(4)
      expect(tempFiles(dir)).toEqual([])
    }))

  it.live("an update interrupted while it waits writes nothing, and leaves no parked call behind", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const first = yield* holding(dir)
      const waiter = yield* waitingUpdate(dir, increment)
      const interrupted = yield* Fiber.interrupt(waiter)
      expect(Exit.isInterrupted(interrupted)).toBe(true)
      yield* first.release
      yield* Fiber.join(first.holder)
      yield* parked(0)
      expect(counterIn(dir)).toBe(1)
      expect(openFilesUnder(dir)).toEqual([])
    }))

  /** A tracer that records every span it starts, with its name, parent and attributes, and whether it ended. */
  const recordingTracer = () => {
    const spans: Array<Tracer.Span & { ended: boolean }> = []
    let ids = 0
    const tracer = Tracer.make({
      span: (name, parent, context, links, startTime, kind) => {
        const attributes = new Map<string, unknown>()
        const span = {
          _tag: "Span" as const,
          name,
          spanId: `span${++ids}`,
          traceId: "trace",
          parent,
          context,
          status: { _tag: "Started" as const, startTime },
          attributes,
          links,
          sampled: true,
          kind,
          ended: false,
          end: () => {
            span.ended = true
          },
          attribute: (key: string, value: unknown) => void attributes.set(key, value),
          event: () => {},
          addLinks: () => {}
        }
        spans.push(span)
        return span
      },
      context: (f) => f()
    })
    return { tracer, spans }
  }

  it.live("the update's span is the caller's child and has the lock wait's span as a child, with the lock's path; a free lock has none", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const { tracer, spans } = recordingTracer()
      const first = yield* holding(dir)
      const waiter = yield* Effect.withTracer(waitingUpdate(dir, increment), tracer)
      yield* first.release
      yield* Fiber.join(first.holder)
      yield* Fiber.join(waiter)
      const update = spans.find((span) => span.name === "StateStore.update")
      const wait = spans.find((span) => span.name === "Lock.acquire")
      expect(update?.ended).toBe(true)
      expect(wait?.ended).toBe(true)
      expect(Option.map(wait!.parent, (parent) => parent.spanId)).toEqual(Option.some(update!.spanId))
      expect(wait!.attributes.get("lockPath")).toBe(path.join(dir, "state.lock"))

      spans.length = 0
      yield* Effect.withTracer(
        Effect.provide(
          Effect.flatMap(Store.StateStore, (store) => Effect.withSpan(store.update(increment), "caller")),
          Store.layerNode({ dir })
        ),
        tracer
      )
      expect(spans.map((span) => span.name)).toEqual(["caller", "StateStore.update"])
      // The caller's span is the update's parent.
      expect(Option.map(spans[1]!.parent, (parent) => parent.spanId)).toEqual(Option.some(spans[0]!.spanId))
      expect(counterIn(dir)).toBe(3)
    }))

  it.live("a queue of 3 000 updates of one store, all waiting at once, lands every one", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const first = yield* holding(dir)
      const n = 3_000
      const all = yield* Effect.fork(Effect.provide(
        Effect.flatMap(Store.StateStore, (store) =>
          Effect.forEach(Array.from({ length: n }), () => store.update(increment), {
            concurrency: "unbounded",
            discard: true
          })),
        Store.layerNode({ dir, lockTimeout: "5 minutes" })
      ))
      yield* parked(1)
      yield* first.release
      yield* Fiber.join(first.holder)
      yield* Fiber.join(all)
      expect(counterIn(dir)).toBe(n + 1)
    }), 120_000)
})
