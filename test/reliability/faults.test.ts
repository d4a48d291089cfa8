/**
 * Faults injected through the FileSystem layer at every step of a write and
 * of a read, with real errno kinds: each is a typed StateIoError naming the
 * step, never a defect; the old file is intact (or, once the rename has
 * happened, the new one is complete); no temp file is left; and the store
 * keeps working once the fault is gone.
 */
import * as NodePath from "@effect/platform-node/NodePath"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Schema from "../../src/Schema.js"
import type { StateError } from "../../src/StateError.js"
import * as Store from "../../src/Store.js"
import { decodeOrFail, FlockPeer, tempDir, tempFiles } from "../fixtures/workers/harness.js"
import { type Errno, type Fault, faultyFileSystem, type IoPath } from "../support/faults.js"

const golden = (name: string) => fs.readFileSync(path.join(import.meta.dirname, "..", "fixtures", "golden", name))
const realistic = golden("full_realistic.expected.json")
const errnos: ReadonlyArray<Errno> = ["ENOSPC", "EIO", "EACCES", "EROFS", "EXDEV"]
/** Both ways the store reads and writes: blocking calls (a small file) and `FileSystem` (a large one). */
const ioPaths: ReadonlyArray<IoPath> = ["sync", "async"]

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
const TEMP = /state\.json\.tmp\d+$/
const STATE = /state\.json$/
const LOCK = /state\.lock$/

type Where = "dir" | "temp" | "state" | "lock"
interface Step {
  /** What fails. */
  readonly step: string
  readonly operation: Fault["operation"]
  readonly where: Where
  /** The `operation` the StateIoError must name. */
  readonly expected: string
  /** Whether the new file is already in place when the step fails. */
  readonly afterRename: boolean
}

/** Every file-system call a write makes, in order. */
const writeSteps: ReadonlyArray<Step> = [
  { step: "create the state directory", operation: "makeDirectory", where: "dir", expected: "create directory", afterRename: false },
  { step: "open the lock file", operation: "open", where: "lock", expected: "open lock", afterRename: false },
  { step: "stat state.json", operation: "stat", where: "state", expected: "stat", afterRename: false },
  { step: "open state.json to read it", operation: "open", where: "state", expected: "open", afterRename: false },
  { step: "fstat the open state.json", operation: "fstat", where: "state", expected: "stat", afterRename: false },
  { step: "read state.json", operation: "read", where: "state", expected: "read", afterRename: false },
  { step: "list the directory for stale temp files", operation: "readDirectory", where: "dir", expected: "list", afterRename: false },
  { step: "remove a stale temp file", operation: "remove", where: "temp", expected: "remove stale temp file", afterRename: false },
  { step: "open (create) the temp file", operation: "open", where: "temp", expected: "create temp file", afterRename: false },
  { step: "write the temp file", operation: "writeAll", where: "temp", expected: "write temp file", afterRename: false },
  { step: "fsync the temp file", operation: "sync", where: "temp", expected: "fsync temp file", afterRename: false },
  { step: "rename the temp file over state.json", operation: "rename", where: "temp", expected: "rename temp file", afterRename: false },
  { step: "open the directory to fsync it", operation: "open", where: "dir", expected: "fsync directory", afterRename: true },
  { step: "fsync the directory", operation: "sync", where: "dir", expected: "fsync directory", afterRename: true },
  { step: "fstat the new file", operation: "fstat", where: "temp", expected: "stat", afterRename: true }
]

/** The calls a read (`load`) makes. */
const readSteps: ReadonlyArray<Step> = writeSteps.filter((s) => s.where === "state")

const matcher = (where: Where, dir: string): RegExp =>
  where === "dir" ? new RegExp(`^${escape(dir)}$`) : where === "temp" ? TEMP : where === "state" ? STATE : LOCK

const addRepo = (name: string) => (state: Schema.State): Schema.State => ({
  ...state,
  repos: { ...state.repos, [name]: { sourcePath: `/src/${name}` } }
})

/** The typed failure of an Exit; fails the test on success, a defect or an interruption. */
const typedFailure = <A>(exit: Exit.Exit<A, StateError>): StateError => {
  if (Exit.isSuccess(exit)) return expect.fail("expected a failure, got a success")
  expect(Cause.isDie(exit.cause), Cause.pretty(exit.cause)).toBe(false)
  expect(Cause.isInterrupted(exit.cause)).toBe(false)
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) return expect.fail(`no typed failure in ${Cause.pretty(exit.cause)}`)
  return failure.value
}

/** A write's fault: a StateIoError naming the step and the errno, committed only when the rename happened. */
const expectStepFailure = (failed: Exit.Exit<unknown, StateError>, c: Step & { readonly errno: Errno }) => {
  const error = typedFailure(failed)
  expect(error._tag).toBe("StateIoError")
  if (error._tag !== "StateIoError") return
  expect(error.operation).toBe(c.expected)
  expect(error.reason).toContain(c.errno)
  expect(error.message).toContain(c.expected)
  // Only a failure after the rename says the new state is in place.
  expect(error.committed === true).toBe(c.afterRename)
}

/**
 * Runs `body` with a store on `dir` whose file system fails as `faults` says (a mutable array:
 * empty it to end the faults); returns the exit of the whole scoped run, store teardown included.
 */
const withStore = <A>(
  dir: string,
  faults: Array<Fault>,
  hits: Array<string>,
  ioPath: IoPath,
  body: (store: Store.StateStoreService) => Effect.Effect<A, never>
) => {
  const services = Layer.merge(faultyFileSystem(faults, hits, undefined, ioPath), NodePath.layer)
  return Effect.runPromiseExit(
    Effect.scoped(Effect.flatMap(Store.make({ dir, lockTimeout: "10 seconds" }), body)).pipe(Effect.provide(services))
  )
}

/** One update through a new store, as a new process would make it. */
const freshWrite = (dir: string, repo: string) =>
  Effect.runPromise(Effect.provide(
    Effect.flatMap(Store.StateStore, (store) => store.update(addRepo(repo))),
    Store.layerNode({ dir, lockTimeout: "10 seconds" })
  ))

const peer = new FlockPeer()
afterAll(() => peer.close())

/** A tally of what was tried, for RELIABILITY.md. */
const tried = { writeFaults: 0, laterWriteFaults: 0, readFaults: 0, closeFaults: 0 }

describe("a fault at every step of a write", () => {
  const cases = writeSteps.flatMap((step) => ioPaths.flatMap((ioPath) => errnos.map((errno) => ({ ...step, errno, ioPath }))))

  it.each(cases)("$step fails with $errno ($ioPath): StateIoError($expected), old file intact (or new complete), no temp file, store usable after", async (c) => {
    const dir = path.join(tempDir(), "state")
    const file = path.join(dir, "state.json")
    const stale = path.join(dir, "state.json.tmp123")
    if (c.operation !== "makeDirectory") {
      fs.mkdirSync(dir)
      fs.writeFileSync(file, realistic)
      if (c.operation === "remove") fs.writeFileSync(stale, "{\"half")
    }
    const faults: Array<Fault> = [{ operation: c.operation, match: matcher(c.where, dir), errno: c.errno }]
    const hits: Array<string> = []
    const exit = await withStore(dir, faults, hits, c.ioPath, (store) =>
      Effect.gen(function*() {
        const failed = yield* Effect.exit(store.update(addRepo("x")))
        const hitsAtFailure = hits.length
        // What the failed write left on disk, seen before anything else runs.
        const left = {
          exists: fs.existsSync(file),
          bytes: fs.existsSync(file) ? fs.readFileSync(file) : undefined,
          temps: fs.existsSync(dir) ? tempFiles(dir) : []
        }
        faults.length = 0
        // The fault is gone: the same store writes again, building on whatever the failed write left.
        const retried = yield* Effect.exit(store.update(addRepo("y")))
        return { failed, hitsAtFailure, left, retried }
      }))
    tried.writeFaults++
    expect(Exit.isSuccess(exit), Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "").toBe(true)
    const { failed, hitsAtFailure, left, retried } = (exit as Exit.Success<any, never>).value
    expect(hitsAtFailure).toBeGreaterThan(0)
    expectStepFailure(failed, c)
    if (c.operation === "makeDirectory") {
      expect(left.exists).toBe(false)
    } else if (c.afterRename) {
      // The rename happened: the new file is whole (durability unknown, hence the error).
      const state = decodeOrFail(left.bytes!, "after a post-rename fault")
      expect(Object.keys(state.repos)).toContain("x")
      expect(Schema.encode(state)).toBe(left.bytes!.toString())
    } else {
      expect(left.bytes!.equals(realistic)).toBe(true)
    }
    expect(left.temps).toEqual(c.operation === "remove" ? ["state.json.tmp123"] : [])
    // Recovery: the next write succeeds and keeps everything, the failed write's part included
    // when its rename happened.
    expect(Exit.isSuccess(retried), Exit.isFailure(retried) ? Cause.pretty(retried.cause) : "").toBe(true)
    const expectedRepos = c.operation === "makeDirectory" ? [] : Object.keys(decodeOrFail(realistic, "golden").repos)
    if (c.afterRename) expectedRepos.push("x")
    expectedRepos.push("y")
    if (left.temps.length > 0) {
      // A stale temp file that could not be removed: the next process's first write removes it.
      await freshWrite(dir, "fresh")
      expectedRepos.push("fresh")
    }
    const after = decodeOrFail(fs.readFileSync(file), "after the retry")
    expect(Object.keys(after.repos).sort()).toEqual(expectedRepos.sort())
    expect(after.jobs).toEqual(c.operation === "makeDirectory" ? {} : decodeOrFail(realistic, "golden").jobs)
    expect(tempFiles(dir)).toEqual([])
  })

  it.each(ioPaths.flatMap((ioPath) => errnos.map((errno) => ({ errno, ioPath }))))("the temp file's cleanup itself fails ($errno, $ioPath) after a failed write: the next process's writer removes it", async ({ errno, ioPath }) => {
    const dir = tempDir()
    const file = path.join(dir, "state.json")
    fs.writeFileSync(file, realistic)
    const faults: Array<Fault> = [
      { operation: "writeAll", match: TEMP, errno },
      { operation: "remove", match: TEMP, errno }
    ]
    const hits: Array<string> = []
    const exit = await withStore(dir, faults, hits, ioPath, (store) =>
      Effect.gen(function*() {
        const failed = yield* Effect.exit(store.update(addRepo("x")))
        const left = tempFiles(dir)
        const intact = fs.readFileSync(file).equals(realistic)
        faults.length = 0
        const retried = yield* Effect.exit(store.update(addRepo("y")))
        return { failed, left, intact, retried }
      }))
    tried.writeFaults++
    expect(Exit.isSuccess(exit)).toBe(true)
    const { failed, intact, left, retried } = (exit as Exit.Success<any, never>).value
    expect(typedFailure(failed)).toMatchObject({ _tag: "StateIoError", operation: "write temp file" })
    expect(hits.map((h) => h.split(" ")[0])).toEqual(["writeAll", "remove"])
    // The half-written temp file could not be removed; state.json is the old one.
    expect(left.length).toBe(1)
    expect(intact).toBe(true)
    expect(Exit.isSuccess(retried)).toBe(true)
    await freshWrite(dir, "z")
    expect(tempFiles(dir)).toEqual([])
    expect(Object.keys(decodeOrFail(fs.readFileSync(file), "after").repos)).toEqual(expect.arrayContaining(["y", "z"]))
  })
})

/**
 * The steps of a store's later writes: its first write makes the directory and scans for stale temp
 * files through `FileSystem`; its next ones within the scan's period are one synchronous step of the
 * store core (`BackendNow`), with error handling of its own.
 */
const laterSteps = writeSteps.filter((s) => !["makeDirectory", "readDirectory", "remove"].includes(s.operation))

describe("a fault at every step of a later write (the synchronous path: no directory to make, no scan due)", () => {
  const cases = laterSteps.flatMap((step) => errnos.map((errno) => ({ ...step, errno })))

  it.each(cases)("$step fails with $errno: StateIoError($expected), old file intact (or new complete), no temp file, store usable after", async (c) => {
    const dir = path.join(tempDir(), "state")
    const file = path.join(dir, "state.json")
    fs.mkdirSync(dir)
    fs.writeFileSync(file, realistic)
    const faults: Array<Fault> = []
    const hits: Array<string> = []
    const exit = await withStore(dir, faults, hits, "sync", (store) =>
      Effect.gen(function*() {
        const first = yield* Effect.exit(store.update(addRepo("w")))
        const before = fs.readFileSync(file)
        faults.push({ operation: c.operation, match: matcher(c.where, dir), errno: c.errno })
        const failed = yield* Effect.exit(store.update(addRepo("x")))
        const hitsAtFailure = hits.length
        const left = { bytes: fs.readFileSync(file), temps: tempFiles(dir) }
        faults.length = 0
        const retried = yield* Effect.exit(store.update(addRepo("y")))
        return { first, before, failed, hitsAtFailure, left, retried }
      }))
    tried.laterWriteFaults++
    expect(Exit.isSuccess(exit), Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "").toBe(true)
    const { before, failed, first, hitsAtFailure, left, retried } = (exit as Exit.Success<any, never>).value
    expect(Exit.isSuccess(first)).toBe(true)
    expect(hitsAtFailure).toBeGreaterThan(0)
    expectStepFailure(failed, c)
    if (c.afterRename) {
      const state = decodeOrFail(left.bytes, "after a post-rename fault")
      expect(Object.keys(state.repos)).toContain("x")
      expect(Schema.encode(state)).toBe(left.bytes.toString())
    } else {
      expect(left.bytes.equals(before)).toBe(true)
    }
    expect(left.temps).toEqual([])
    // Recovery: the next write succeeds and keeps everything, the failed write's part included when its rename happened.
    expect(Exit.isSuccess(retried), Exit.isFailure(retried) ? Cause.pretty(retried.cause) : "").toBe(true)
    const expectedRepos = [...Object.keys(decodeOrFail(realistic, "golden").repos), "w"]
    if (c.afterRename) expectedRepos.push("x")
    expectedRepos.push("y")
    expect(Object.keys(decodeOrFail(fs.readFileSync(file), "after recovery").repos).sort()).toEqual(expectedRepos.sort())
  })
})

describe("a fault while closing a file the store or the lock opened", () => {
  // Node's FileSystem closes files in a finalizer with orDie: a failing close(2) reaches the
  // library as a defect. close(2) frees the descriptor (and a flock) whatever it returns, and
  // the files closed were only read or were fsynced before their rename: nothing is lost, so
  // nothing may fail, let alone die. (The directory, for each write's fsync, and the lock file are
  // opened and closed with Node's synchronous calls, whose close errors are ignored, not defects.)
  const closeCases = [
    { file: "the temp file (closed when the next write replaces it)", where: "temp" as const },
    { file: "state.json opened for reading", where: "state" as const }
  ].flatMap((c) => ioPaths.flatMap((ioPath) => errnos.map((errno) => ({ ...c, errno, ioPath }))))

  it.each(closeCases)("closing $file fails with $errno ($ioPath): every update and load succeeds, the store closes cleanly, the lock is free", async (c) => {
    const dir = fs.realpathSync(tempDir())
    const file = path.join(dir, "state.json")
    fs.writeFileSync(file, realistic)
    const faults: Array<Fault> = [{ operation: "close", match: matcher(c.where, dir), errno: c.errno }]
    const hits: Array<string> = []
    const exit = await withStore(dir, faults, hits, c.ioPath, (store) =>
      Effect.gen(function*() {
        const results: Array<Exit.Exit<unknown, StateError>> = []
        for (const name of ["a", "b", "c"]) results.push(yield* Effect.exit(store.update(addRepo(name))))
        // Another writer replaces the file: the store reads it (and closes what it pinned before).
        const other = Schema.encode(addRepo("other")(decodeOrFail(fs.readFileSync(file), "before the other writer")))
        fs.writeFileSync(`${file}.other`, other)
        fs.renameSync(`${file}.other`, file)
        results.push(yield* Effect.exit(store.load))
        results.push(yield* Effect.exit(store.update(addRepo("d"))))
        return results
      }))
    tried.closeFaults++
    // The store's teardown (which closes the pinned file and the directory) is part of `exit`.
    expect(Exit.isSuccess(exit), Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "").toBe(true)
    expect(hits.length).toBeGreaterThan(0)
    for (const result of (exit as Exit.Success<Array<Exit.Exit<unknown, StateError>>, never>).value) {
      expect(Exit.isSuccess(result), Exit.isFailure(result) ? Cause.pretty(result.cause) : "").toBe(true)
    }
    const state = decodeOrFail(fs.readFileSync(file), "after close faults")
    expect(Object.keys(state.repos)).toEqual(expect.arrayContaining(["a", "b", "c", "other", "d"]))
    expect(tempFiles(dir)).toEqual([])
    expect(await peer.try(path.join(dir, "state.lock"))).toBe("free")
  })
})

describe("a fault while reading", () => {
  const cases = readSteps.flatMap((step) => ioPaths.flatMap((ioPath) => errnos.map((errno) => ({ ...step, errno, ioPath }))))

  it.each(cases)("$step fails with $errno ($ioPath): load and update fail with StateIoError($expected), the file is untouched", async (c) => {
    const dir = tempDir()
    const file = path.join(dir, "state.json")
    fs.writeFileSync(file, realistic)
    const before = fs.statSync(file)
    const faults: Array<Fault> = [{ operation: c.operation, match: matcher(c.where, dir), errno: c.errno }]
    const hits: Array<string> = []
    const exit = await withStore(dir, faults, hits, c.ioPath, (store) =>
      Effect.gen(function*() {
        const load = yield* Effect.exit(store.load)
        const update = yield* Effect.exit(store.update(addRepo("x")))
        faults.length = 0
        const recovered = yield* Effect.exit(store.load)
        return { load, update, recovered }
      }))
    tried.readFaults++
    expect(Exit.isSuccess(exit)).toBe(true)
    const { load, update, recovered } = (exit as Exit.Success<any, never>).value
    expect(hits.length).toBeGreaterThanOrEqual(2)
    for (const result of [load, update]) {
      const error = typedFailure(result)
      expect(error).toMatchObject({ _tag: "StateIoError", operation: c.expected, path: file })
    }
    expect(fs.readFileSync(file).equals(realistic)).toBe(true)
    expect(fs.statSync(file).ino).toBe(before.ino)
    expect(tempFiles(dir)).toEqual([])
    expect(Exit.isSuccess(recovered)).toBe(true)
    expect((recovered as Exit.Success<Schema.State, never>).value).toEqual(decodeOrFail(realistic, "golden"))
  })

  it("counts", () => {
    console.log(`fault injection: ${JSON.stringify(tried)}`)
    expect(tried.writeFaults).toBe((writeSteps.length * errnos.length + errnos.length) * ioPaths.length)
    expect(tried.laterWriteFaults).toBe(laterSteps.length * errnos.length)
    expect(tried.readFaults).toBe(readSteps.length * errnos.length * ioPaths.length)
  })
})
