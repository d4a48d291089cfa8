import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as FileSystem from "@effect/platform/FileSystem"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Schema from "../src/Schema.js"
import * as Store from "../src/Store.js"
import { stateStoreContract } from "./contract/StateStoreContract.js"
import { faultyFileSystem, type Fault } from "./support/faults.js"

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-state-"))
const golden = (name: string) => fs.readFileSync(path.join(import.meta.dirname, "fixtures", "golden", name))

stateStoreContract("layerNode", () => Store.layerNode({ dir: tempDir() }))
stateStoreContract("layerMemory", () => Store.layerMemory())

const runIn = <A, E>(dir: string, effect: Effect.Effect<A, E, Store.StateStore>) =>
  Effect.runPromise(Effect.provide(effect, Store.layerNode({ dir })))

const load = Effect.flatMap(Store.StateStore, (store) => store.load)
const addRepo = (name: string) =>
  Effect.flatMap(Store.StateStore, (store) =>
    store.update((state) => ({ ...state, repos: { ...state.repos, [name]: { sourcePath: `/src/${name}` } } })))

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

  it.each(["error_trailing_comma", "error_time_feb30", "error_utf8_bom", "unknown_enum_values"])(
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
