/**
 * Issue 10: writes are as strict as reads. The hostile states of the issue
 * run through the shared contract over both backends; here are the cases
 * that need the file itself (bytes, inode, size), the public layers, and a
 * property test of garbage at arbitrary places of a valid state.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Schema from "../src/Schema.js"
import * as Store from "../src/Store.js"
import { base, hostile, job, names, realistic, strictWritesContract } from "./contract/StrictWritesContract.js"

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-strict-"))
const golden = (name: string) => fs.readFileSync(path.join(import.meta.dirname, "fixtures", "golden", name))

strictWritesContract(
  "file backend",
  Effect.suspend(() => Store.makeFileBackend({ dir: tempDir() })).pipe(
    Effect.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
  )
)
strictWritesContract("memory backend", Effect.suspend(() => Store.makeMemoryBackend()))

const runIn = <A, E>(dir: string, effect: Effect.Effect<A, E, Store.StateStore>) =>
  Effect.runPromise(Effect.provide(effect, Store.layerNode({ dir })))
const runEither = <A, E>(dir: string, effect: Effect.Effect<A, E, Store.StateStore>) =>
  runIn(dir, Effect.either(effect))

const load = Effect.flatMap(Store.StateStore, (store) => store.load)
const update = (f: (state: Schema.State) => Schema.State) => Effect.flatMap(Store.StateStore, (store) => store.update(f))
const save = (state: Schema.State) => Effect.flatMap(Store.StateStore, (store) => store.save(state))

describe("the public layers refuse alike", () => {
  it.each(hostile.map((c) => [c.name, c] as const))("%s: layerNode and layerMemory both give InvalidState", async (_, c) => {
    const dir = tempDir()
    await runIn(dir, save(base))
    const file = path.join(dir, "state.json")
    const before = fs.readFileSync(file)
    const onDisk = await runEither(dir, update(c.make))
    const inMemory = await Effect.runPromise(
      Effect.either(update(c.make)).pipe(Effect.provide(Store.layerMemory(base)))
    )
    for (const result of [onDisk, inMemory]) {
      expect(result._tag).toBe("Left")
      if (result._tag === "Left") {
        expect(result.left._tag).toBe("InvalidState")
        expect(names(c, (result.left as { jsonPath: string }).jsonPath)).toBe(true)
      }
    }
    expect(fs.readFileSync(file).equals(before)).toBe(true)
    // Another process (a new layer on the same directory) is not stuck.
    await runIn(dir, update((s) => ({ ...s, repos: { ...s.repos, later: { sourcePath: "/later" } } })))
    expect((await runIn(dir, load)).repos["later"]).toEqual({ sourcePath: "/later" })
  })
})

describe("the file itself", () => {
  it("save of a just-loaded compact file rewrites it as Go writes it", async () => {
    const dir = tempDir()
    const file = path.join(dir, "state.json")
    const compact = JSON.stringify(JSON.parse(golden("full_realistic.expected.json").toString("utf8")))
    fs.writeFileSync(file, compact)
    await runIn(dir, Effect.flatMap(load, (state) => save(state)))
    expect(fs.readFileSync(file, "utf8")).toBe(golden("full_realistic.expected.json").toString("utf8"))
  })

  it("save of a just-loaded file already in Go's form writes nothing (same inode and mtime)", async () => {
    const dir = tempDir()
    const file = path.join(dir, "state.json")
    fs.writeFileSync(file, golden("full_realistic.expected.json"))
    const past = new Date(2020, 0, 1)
    fs.utimesSync(file, past, past)
    const before = fs.statSync(file)
    await runIn(dir, Effect.flatMap(load, (state) => save(state)))
    const after = fs.statSync(file)
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs])
  })

  it("update(s => s) writes nothing, even over a compact file (same inode and mtime)", async () => {
    const dir = tempDir()
    const file = path.join(dir, "state.json")
    const compact = JSON.stringify(JSON.parse(golden("full_realistic.expected.json").toString("utf8")))
    fs.writeFileSync(file, compact)
    const past = new Date(2020, 0, 1)
    fs.utimesSync(file, past, past)
    const before = fs.statSync(file)
    await runIn(dir, update((s) => s))
    const after = fs.statSync(file)
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs])
    expect(fs.readFileSync(file, "utf8")).toBe(compact)
  })

  it("six source paths of 100 M characters: InvalidState (larger than decode reads), file unchanged, store usable", async () => {
    const dir = tempDir()
    const file = path.join(dir, "state.json")
    await runIn(dir, save(base))
    const before = fs.readFileSync(file)
    const huge = "x".repeat(100_000_000)
    const result = await runEither(dir, update((s) => {
      const repos: Record<string, Schema.RepoInfo> = { ...s.repos }
      for (let i = 0; i < 6; i++) repos[`huge-${i}`] = { sourcePath: huge }
      return { ...s, repos }
    }))
    expect(result._tag).toBe("Left")
    if (result._tag === "Left") {
      expect(result.left._tag).toBe("InvalidState")
      expect(result.left.message).toMatch(/at most \d+ bytes/)
    }
    expect(fs.readFileSync(file).equals(before)).toBe(true)
    await runIn(dir, update((s) => ({ ...s, jobs: { ...s.jobs, k: job("k") } })))
    expect(Object.keys((await runIn(dir, load)).jobs)).toContain("k")
  }, 120_000)
})

// ---------------------------------------------------------------------------
// Garbage at arbitrary places of a valid state

class Odd {
  constructor(readonly x = 1) {}
}

const cyclic = (): unknown => {
  const a: Array<unknown> = [1]
  a.push(a)
  return a
}

const garbage: FastCheck.Arbitrary<unknown> = FastCheck.oneof(
  FastCheck.constantFrom<unknown>(
    NaN,
    Infinity,
    -Infinity,
    -0,
    2 ** 60,
    1.5,
    10n,
    undefined,
    null,
    true,
    "",
    "\ud800",
    "yesterday",
    "2026-01-15T10:00:00.500000000+00:00",
    "x\", \"status\": \"bogus",
    Symbol("s"),
    () => 1,
    new Odd(),
    new Date(0),
    new Map(),
    [],
    {},
    "x".repeat(100_000)
  ),
  FastCheck.constant(null).map(cyclic),
  FastCheck.string({ unit: "binary", maxLength: 20 }),
  FastCheck.integer(),
  FastCheck.double(),
  FastCheck.jsonValue({ maxDepth: 2 }),
  FastCheck.dictionary(FastCheck.string({ unit: "binary", maxLength: 5 }), FastCheck.jsonValue({ maxDepth: 1 }), {
    maxKeys: 3
  })
)

/** Every path to a value in the state (objects and arrays), the root included. */
const paths = (value: unknown, at: ReadonlyArray<string> = [], out: Array<ReadonlyArray<string>> = []) => {
  out.push(at)
  if (value !== null && typeof value === "object") {
    for (const key of Object.keys(value)) paths((value as Record<string, unknown>)[key], [...at, key], out)
  }
  return out
}

const realisticPaths = paths(base).filter((p) => p.length > 0)

/** A copy of `value` with `replacement` put at `at` (or a new key `extra` beside it). */
const put = (value: unknown, at: ReadonlyArray<string>, replacement: unknown): unknown => {
  if (at.length === 0) return replacement
  const [head, ...rest] = at
  const copy: Record<string, unknown> = Array.isArray(value) ? [...value] as never : { ...(value as object) }
  copy[head!] = put((value as Record<string, unknown>)[head!], rest, replacement)
  return copy
}

describe("garbage anywhere in a valid state", () => {
  it.scoped.prop(
    "the write fails typed with the stored bytes unchanged, or a fresh store reads what the writer loads",
    [
      FastCheck.constantFrom(...realisticPaths),
      FastCheck.boolean(),
      FastCheck.string({ unit: "binary", maxLength: 6 }),
      garbage
    ],
    ([at, beside, oddKey, value]) =>
      Effect.gen(function*() {
        const backend = yield* Store.makeMemoryBackend(base)
        const store = yield* Store.makeWith(backend)
        const fresh = Effect.scoped(Effect.flatMap(Store.makeWith(backend), (s) => s.load))
        const read = Effect.scoped(Effect.map(backend.read(undefined), (c) => c?._tag === "Bytes" ? Buffer.from(c.bytes) : c))
        const before = yield* read
        // Either replace the value at `at`, or add an odd key next to it.
        const target = beside ? [...at.slice(0, -1), oddKey] : at
        const result = yield* Effect.either(store.update((s) => put(s, target, value) as Schema.State))
        if (result._tag === "Left") {
          expect(result.left._tag).toBe("InvalidState")
          expect(result.left.message).toMatch(/expected/)
          expect(yield* read).toEqual(before)
        } else {
          expect(yield* fresh).toEqual(yield* store.load)
        }
        // Never stuck: a later, valid update lands.
        yield* store.update((s) => ({ ...s, jobs: { ...s.jobs, after: job("after") } }))
        expect(Object.keys((yield* fresh).jobs)).toContain("after")
      }),
    { fastCheck: { numRuns: 100 } }
  )

  it("the property's base is the Go tool's realistic file (every record kind, nested commits and reviews)", () => {
    expect(Object.keys(realistic.jobs).length).toBeGreaterThan(1)
    expect(realisticPaths.some((p) => p.includes("commits"))).toBe(true)
    expect(realisticPaths.some((p) => p.includes("review"))).toBe(true)
  })
})
