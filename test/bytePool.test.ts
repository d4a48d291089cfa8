/**
 * Recycled whole-file buffers (`src/internal/bytePool.ts`): memory handed
 * back is reused, every view into it is emptied, and the caches of views
 * into such memory (the codec's encodings and source bytes) take an empty
 * view as no entry, so recycling never changes what is decoded or written.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { markAsUntransferable } from "node:worker_threads"
import * as BytePool from "../src/internal/bytePool.js"
import * as codec from "../src/internal/codec.js"
import type * as Schema from "../src/Schema.js"
import * as Store from "../src/Store.js"
import { generateStateText } from "../bench/generate.js"

const file = "/state.json"
const decodeOrThrow = (input: Uint8Array, previous?: Schema.State): Schema.State =>
  Either.getOrThrow(codec.decode(input, file, previous)).state

/** The bytes of a 10-job state (about 70 kB: large enough to be pooled). */
const tenJobs = Buffer.from(generateStateText(10), "utf8")

/** A pooled copy of `bytes`. */
const pooledCopy = (bytes: Uint8Array): Buffer => {
  const out = BytePool.take(bytes.length)
  out.set(bytes)
  return out
}

describe("BytePool", () => {
  it("takes buffers of the size asked whose memory no other buffer shares", () => {
    const a = BytePool.take(70_000)
    const b = BytePool.take(70_000)
    a.fill(1)
    b.fill(2)
    expect(a.length).toBe(70_000)
    expect(a.every((x) => x === 1)).toBe(true)
  })

  it("reuses memory handed back, and empties every view into it", () => {
    const a = BytePool.take(70_000)
    a.fill(7)
    const view = a.subarray(10, 20)
    BytePool.give(a)
    expect(a.length).toBe(0)
    expect(view.length).toBe(0)
    // Uninitialised, as `Buffer.allocUnsafe`: what it holds shows that the memory is the one handed back.
    const b = BytePool.take(70_000)
    expect(b.every((x) => x === 7)).toBe(true)
  })

  it("leaves alone a buffer it did not allocate, and one handed back twice", () => {
    const small = BytePool.take(100)
    const plain = Buffer.alloc(70_000, 3)
    const large = BytePool.take(BytePool.maxPooledBytes + 1)
    BytePool.give(small)
    BytePool.give(plain)
    BytePool.give(large)
    expect([small.length, plain.length, large.length]).toStrictEqual([100, 70_000, BytePool.maxPooledBytes + 1])
    const a = BytePool.take(70_000)
    const view = a.subarray(0, 10)
    BytePool.give(a)
    BytePool.give(view)
    expect(view.length).toBe(0)
  })

  // Node 20 copies such a buffer on a transfer, later versions throw: either way it must stay as it is.
  it("leaves to the collector a buffer whose memory cannot be moved, its views intact", () => {
    const a = BytePool.take(70_000)
    a.fill(5)
    markAsUntransferable(a.buffer)
    expect(() => BytePool.give(a)).not.toThrow()
    expect(a.length).toBe(70_000)
    expect(a.every((x) => x === 5)).toBe(true)
  })
})

describe("the codec's caches of recycled memory", () => {
  it("an encoding whose output was handed back is written again in full", () => {
    const state = decodeOrThrow(tenJobs)
    const first = codec.encodeBytes(state)
    const expected = Buffer.from(first)
    // Every record's cached encoding is a view into `first`.
    BytePool.give(first)
    expect(first.length).toBe(0)
    expect(codec.encodeBytes(state).equals(expected)).toBe(true)
    expect(codec.sameEncoding(state, decodeOrThrow(expected))).toBe(true)
  })

  it("a record whose source bytes were handed back is still known by its encoding", () => {
    const state = decodeOrThrow(tenJobs)
    // Caches each record's encoding.
    const encoded = Buffer.from(codec.encodeBytes(state))
    const read = pooledCopy(encoded)
    const first = decodeOrThrow(read, state)
    BytePool.give(read)
    const second = decodeOrThrow(Buffer.from(encoded), first)
    expect(second).toStrictEqual(decodeOrThrow(Buffer.from(encoded)))
    for (const key of Object.keys(first.jobs)) expect(second.jobs[key]).toBe(first.jobs[key])
  })
})

describe("the file store with recycled buffers", () => {
  it.effect("two stores taking turns on one file write what a fresh encode writes, and an old state in full", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-bytepool-"))
      fs.writeFileSync(path.join(dir, "state.json"), tenJobs)
      const increment = (state: Schema.State): Schema.State => {
        const n = state.unknownFields?.["counter"]
        return { ...state, unknownFields: { ...state.unknownFields, counter: (typeof n === "number" ? n : 0) + 1 } }
      }
      // One job replaced each turn too, so that records' cached bytes go stale as well as the documents'.
      const touch = (state: Schema.State, turn: number): Schema.State => {
        const key = Object.keys(state.jobs)[turn % 10]!
        const job = state.jobs[key]!
        return { ...state, jobs: { ...state.jobs, [key]: { ...job, feedback: `turn ${turn}` } } }
      }
      const turns = 60
      yield* Effect.scoped(Effect.gen(function*() {
        // Two stores, each with its own backend: every turn re-reads what the other wrote.
        const a = yield* Store.make({ dir })
        const b = yield* Store.make({ dir })
        // Its records are replaced over the turns, and the memory of their cached encodings handed back.
        const old = yield* a.load
        for (let turn = 0; turn < turns; turn++) {
          const store = turn % 2 === 0 ? a : b
          yield* store.update((state) => touch(increment(state), turn))
          const bytes = fs.readFileSync(path.join(dir, "state.json"))
          const fresh = codec.encodeBytes(decodeOrThrow(bytes))
          expect(bytes.equals(fresh)).toBe(true)
        }
        expect((yield* a.load).unknownFields?.["counter"]).toBe(turns)
        expect((yield* b.load).unknownFields?.["counter"]).toBe(turns)
        yield* a.save(old)
        const bytes = fs.readFileSync(path.join(dir, "state.json"))
        expect(bytes.equals(tenJobs)).toBe(true)
        expect(yield* b.load).toStrictEqual(old)
      }).pipe(Effect.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))))
      fs.rmSync(dir, { recursive: true, force: true })
    }))
})
