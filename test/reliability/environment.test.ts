/**
 * A hostile environment: a read-only state directory (injected, a real
 * read-only bind mount, and a real permission denial to another uid),
 * a state.json that is a directory, a missing parent directory, a lock file
 * that cannot be opened or is a directory. Each is a clear typed error and
 * nothing is lost.
 *
 * Tests run as root, which ignores permission bits: real denials come from a
 * process running as `nobody` (or, when not root, from chmod), and a real
 * read-only file system from a bind mount in a private mount namespace
 * (skipped where `unshare -m` is not permitted).
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Schema from "../../src/Schema.js"
import { StateIoError } from "../../src/StateError.js"
import * as Store from "../../src/Store.js"
import { decodeOrFail, FlockPeer, run, storeProbe, tempDir, tempFiles } from "../fixtures/workers/harness.js"
import { type Errno, type Fault, faultyFileSystem } from "../support/faults.js"

const golden = (name: string) => fs.readFileSync(path.join(import.meta.dirname, "..", "fixtures", "golden", name))
const realistic = golden("full_realistic.expected.json")
const legacy = golden("legacy_prompt.input.json")

const peer = new FlockPeer()
afterAll(() => peer.close())

const addRepo = (name: string) => (state: Schema.State): Schema.State => ({
  ...state,
  repos: { ...state.repos, [name]: { sourcePath: `/src/${name}` } }
})

const ioErrorOf = (exit: Exit.Exit<unknown, unknown>, what: string): StateIoError => {
  if (Exit.isSuccess(exit)) return expect.fail(`${what}: expected a StateIoError, got a success`)
  const failure = Cause.failureOption(exit.cause)
  if (Cause.isDie(exit.cause) || Option.isNone(failure) || !(failure.value instanceof StateIoError)) {
    return expect.fail(`${what}: expected a StateIoError, got ${Cause.pretty(exit.cause)}`)
  }
  return failure.value
}

/** Every store operation on `dir`, each as an Exit; the whole run (store teardown included) must not fail. */
const everyOperation = async (dir: string, services?: Layer.Layer<FileSystem.FileSystem | Path.Path>) => {
  const make = Store.make({ dir, lockTimeout: "10 seconds" })
  const body = Effect.scoped(Effect.flatMap(make, (store) =>
    Effect.all({
      load: Effect.exit(store.load),
      update: Effect.exit(store.update(addRepo("u"))),
      save: Effect.exit(store.save(addRepo("s")(Schema.empty))),
      modify: Effect.exit(store.modify((s) => [1, addRepo("m")(s)] as const))
    })))
  const exit = await Effect.runPromiseExit(Effect.provide(body, services ?? Layer.merge(NodeFileSystem.layer, NodePath.layer)))
  if (Exit.isFailure(exit)) return expect.fail(Cause.pretty(exit.cause))
  return exit.value
}

/** A snapshot of everything in `dir` (names, types and bytes), to prove nothing was touched. */
const snapshotOf = (dir: string): Record<string, string> =>
  Object.fromEntries(fs.readdirSync(dir, { recursive: true, withFileTypes: true }).map((entry) => {
    const p = path.join(entry.parentPath ?? entry.path, entry.name)
    return [path.relative(dir, p), entry.isFile() ? fs.readFileSync(p).toString("base64") : entry.isDirectory() ? "<dir>" : "<other>"]
  }))

describe("a read-only state directory, injected", () => {
  // What a read-only directory refuses: creating or opening files for writing, renaming and
  // removing. (mkdir -p of the existing directory still succeeds, as on a real read-only mount.)
  const readOnly = (errno: Errno, dir: string): Array<Fault> => [
    { operation: "open", match: /state\.lock$/, errno },
    { operation: "open", match: /state\.json\.tmp\d+$/, errno },
    { operation: "rename", match: /./, errno },
    { operation: "remove", match: /./, errno },
    { operation: "writeAll", match: new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`), errno }
  ]

  it.each(["EROFS", "EACCES"] as const)("%s: load works; update, save and modify fail with StateIoError(open lock); nothing changes", async (errno) => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "state.json"), realistic)
    const before = snapshotOf(dir)
    const services = Layer.merge(faultyFileSystem(readOnly(errno, dir)), NodePath.layer)
    const { load, update, save, modify } = await everyOperation(dir, services)
    expect(Exit.isSuccess(load) && load.value).toEqual(decodeOrFail(realistic, "golden"))
    for (const [name, exit] of Object.entries({ update, save, modify })) {
      const error = ioErrorOf(exit, name)
      expect(error.operation).toBe("open lock")
      expect(error.reason).toContain(errno)
    }
    expect(snapshotOf(dir)).toEqual(before)
  })

  it.each(["EROFS", "EACCES"] as const)("%s with the lock file already there: the temp file cannot be created; nothing changes", async (errno) => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "state.json"), realistic)
    fs.writeFileSync(path.join(dir, "state.lock"), "")
    const before = snapshotOf(dir)
    // The lock file opens (it exists and is writable); creating anything in the directory fails.
    const faults = readOnly(errno, dir).filter((f) => !f.match.test("state.lock"))
    const services = Layer.merge(faultyFileSystem(faults), NodePath.layer)
    const { load, update, save, modify } = await everyOperation(dir, services)
    expect(Exit.isSuccess(load)).toBe(true)
    for (const [name, exit] of Object.entries({ update, save, modify })) {
      expect(ioErrorOf(exit, name).operation).toBe("create temp file")
    }
    expect(snapshotOf(dir)).toEqual(before)
    expect(await peer.try(path.join(dir, "state.lock"))).toBe("free")
  })
})

/** Whether this process may make a private mount namespace with a read-only bind mount. */
const canMountReadOnly = (() => {
  if (process.platform !== "linux") return false
  const dir = tempDir()
  const result = spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-c", `mount --bind "${dir}" "${dir}" && mount -o remount,bind,ro "${dir}" && ! touch "${dir}/x" 2>/dev/null`])
  return result.status === 0 && !fs.existsSync(path.join(dir, "x"))
})()

describe("a real read-only file system (a read-only bind mount in a private mount namespace)", () => {
  it.skipIf(!canMountReadOnly)("load works; update and save fail with StateIoError(open lock, EROFS); the files are byte for byte the same", async () => {
    for (const withLockFile of [false, true]) {
      const dir = tempDir()
      fs.writeFileSync(path.join(dir, "state.json"), realistic)
      if (withLockFile) fs.writeFileSync(path.join(dir, "state.lock"), "")
      const before = snapshotOf(dir)
      const script = `mount --bind "${dir}" "${dir}" && mount -o remount,bind,ro "${dir}" && exec "${process.execPath}" "${storeProbe}" "${dir}"`
      const probe = await run("unshare", ["-m", "--propagation", "private", "sh", "-c", script])
      const result = JSON.parse(probe.lines.at(-1)!)
      expect(result.load).toMatchObject({ ok: true, repos: Object.keys(decodeOrFail(realistic, "golden").repos) })
      for (const op of [result.update, result.save]) {
        expect(op).toMatchObject({ ok: false, tag: "StateIoError", operation: "open lock" })
        expect(op.message).toContain("EROFS")
      }
      expect(result.reload.ok).toBe(true)
      expect(snapshotOf(dir)).toEqual(before)
    }
  })
})

const isRoot = process.getuid?.() === 0
/** Runs the store probe as `nobody` when root (root ignores permission bits), else as this user. */
const probeAsOther = async (dir: string) => {
  const options = isRoot ? { uid: 65534, gid: 65534 } : {}
  const probe = await run(process.execPath, [storeProbe, dir], 60_000, options)
  return JSON.parse(probe.lines.at(-1)!)
}
const otherCanRunNode = (() => {
  if (!isRoot) return true
  const result = spawnSync(process.execPath, ["-e", `import(${JSON.stringify(new URL("../../dist/index.js", import.meta.url).href)})`], { uid: 65534, gid: 65534 })
  return result.status === 0
})()

describe("real permission denials (another uid, or chmod when not root)", () => {
  const restrict = (dir: string, mode: number) => {
    // As root the files stay root's and the probe runs as nobody; otherwise the bits bind this user.
    fs.chmodSync(dir, isRoot ? 0o755 : mode)
  }

  it.skipIf(!otherCanRunNode)("a directory the writer may not write to: load works, writes fail with StateIoError(open lock, EACCES)", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "state.json"), realistic)
    fs.chmodSync(path.join(dir, "state.json"), 0o644)
    restrict(dir, 0o555)
    const before = snapshotOf(dir)
    const result = await probeAsOther(dir)
    expect(result.load.ok).toBe(true)
    for (const op of [result.update, result.save]) {
      expect(op).toMatchObject({ ok: false, tag: "StateIoError", operation: "open lock" })
      expect(op.message).toContain("EACCES")
    }
    expect(snapshotOf(dir)).toEqual(before)
  })

  it.skipIf(!otherCanRunNode)("a lock file anyone may open in a directory the writer may not write to: StateIoError(create temp file, EACCES)", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "state.json"), realistic)
    fs.chmodSync(path.join(dir, "state.json"), 0o644)
    fs.writeFileSync(path.join(dir, "state.lock"), "")
    fs.chmodSync(path.join(dir, "state.lock"), 0o666)
    restrict(dir, 0o555)
    const before = snapshotOf(dir)
    const result = await probeAsOther(dir)
    expect(result.load.ok).toBe(true)
    for (const op of [result.update, result.save]) {
      expect(op).toMatchObject({ ok: false, tag: "StateIoError", operation: "create temp file" })
      expect(op.message).toContain("EACCES")
    }
    expect(snapshotOf(dir)).toEqual(before)
    expect(await peer.try(path.join(dir, "state.lock"))).toBe("free")
  })

  it.skipIf(!otherCanRunNode)("a state.json the reader may not read: load fails with StateIoError(open, EACCES); the file stays", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "state.json"), realistic)
    fs.chmodSync(path.join(dir, "state.json"), isRoot ? 0o600 : 0o000)
    restrict(dir, 0o555)
    const before = snapshotOf(dir)
    const result = await probeAsOther(dir)
    expect(result.load).toMatchObject({ ok: false, tag: "StateIoError", operation: "open" })
    expect(result.load.message).toContain("EACCES")
    expect(result.update.ok).toBe(false)
    fs.chmodSync(path.join(dir, "state.json"), 0o600)
    expect(snapshotOf(dir)).toEqual(before)
  })
})

describe("things in the wrong place", () => {
  it("a state.json that is a directory: every operation is a StateIoError and the directory and its contents stay", async () => {
    const dir = tempDir()
    fs.mkdirSync(path.join(dir, "state.json"))
    fs.writeFileSync(path.join(dir, "state.json", "inside"), "keep me")
    const before = snapshotOf(dir)
    const { load, update, save, modify } = await everyOperation(dir)
    for (const [name, exit] of Object.entries({ load, update, save, modify })) {
      const error = ioErrorOf(exit, name)
      expect(error.path).toBe(path.join(dir, "state.json"))
      expect(error.reason).toContain("not a regular file")
    }
    const after = snapshotOf(dir)
    delete after["state.lock"]
    expect(after).toEqual(before)
    expect(tempFiles(dir)).toEqual([])
  })

  it("a missing parent directory: load reads the empty state and creates nothing; the first write creates it (0755)", async () => {
    const root = tempDir()
    const dir = path.join(root, "home", ".local", "state", "incrementum")
    const { load, update, save, modify } = await everyOperation(dir)
    expect(Exit.isSuccess(load) && load.value).toEqual(Schema.empty)
    for (const exit of [update, save, modify] as Array<Exit.Exit<unknown, unknown>>) expect(Exit.isSuccess(exit)).toBe(true)
    expect(fs.statSync(dir).mode & 0o777).toBe(0o755)
    // Nothing lost: update, then save (which replaced the state), then modify on top of it.
    expect(Object.keys(decodeOrFail(fs.readFileSync(path.join(dir, "state.json")), "new file").repos)).toEqual(["m", "s"])
    // The load alone created nothing.
    const fresh = path.join(root, "other", "incrementum")
    await Effect.runPromise(Effect.provide(Effect.flatMap(Store.StateStore, (s) => s.load), Store.layerNode({ dir: fresh })))
    expect(fs.existsSync(path.join(root, "other"))).toBe(false)
  })

  it("a parent that is a regular file: load and writes are StateIoErrors (ENOTDIR); the file stays", async () => {
    const root = tempDir()
    fs.writeFileSync(path.join(root, "home"), "a file, not a directory")
    const dir = path.join(root, "home", "incrementum")
    const before = snapshotOf(root)
    const { load, update, save, modify } = await everyOperation(dir)
    expect(ioErrorOf(load, "load")).toMatchObject({ operation: "stat" })
    for (const [name, exit] of Object.entries({ update, save, modify })) {
      const error = ioErrorOf(exit, name)
      expect(error.operation).toBe("create directory")
      expect(error.reason).toContain("ENOTDIR")
    }
    expect(snapshotOf(root)).toEqual(before)
  })
})

describe("a lock file that cannot be opened", () => {
  it.each(["ENOSPC", "EIO", "EACCES", "EROFS", "EXDEV"] as const)("opening state.lock fails with %s: writes and the legacy rewrite fail with StateIoError(open lock); nothing changes", async (errno) => {
    for (const bytes of [realistic, legacy]) {
      const dir = tempDir()
      fs.writeFileSync(path.join(dir, "state.json"), bytes)
      const before = snapshotOf(dir)
      const services = Layer.merge(faultyFileSystem([{ operation: "open", match: /state\.lock$/, errno }]), NodePath.layer)
      const { load, update, save, modify } = await everyOperation(dir, services)
      // A plain file loads without the lock; one with legacy prompts must be rewritten under it.
      if (bytes === realistic) expect(Exit.isSuccess(load)).toBe(true)
      else expect(ioErrorOf(load, "legacy load").operation).toBe("open lock")
      for (const [name, exit] of Object.entries({ update, save, modify })) {
        const error = ioErrorOf(exit, name)
        expect(error.operation).toBe("open lock")
        expect(error.path).toBe(path.join(dir, "state.lock"))
        expect(error.reason).toContain(errno)
      }
      expect(snapshotOf(dir)).toEqual(before)
    }
  })

  it("a state.lock that is a directory: StateIoError(open lock, EISDIR) for every write; state.json and the directory stay", async () => {
    for (const bytes of [realistic, legacy]) {
      const dir = tempDir()
      fs.writeFileSync(path.join(dir, "state.json"), bytes)
      fs.mkdirSync(path.join(dir, "state.lock"))
      const before = snapshotOf(dir)
      const { load, update, save, modify } = await everyOperation(dir)
      if (bytes === realistic) expect(Exit.isSuccess(load)).toBe(true)
      else expect(ioErrorOf(load, "legacy load").operation).toBe("open lock")
      for (const [name, exit] of Object.entries({ update, save, modify })) {
        const error = ioErrorOf(exit, name)
        expect(error.operation).toBe("open lock")
        expect(error.reason).toContain("EISDIR")
      }
      expect(snapshotOf(dir)).toEqual(before)
    }
  })
})
