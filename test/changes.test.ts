/**
 * `StateStore.changes` on the file store, against writers in other
 * processes (python3 and Node renaming files in), a corrupt file, polling,
 * and interruption. No timing is asserted: each test waits for the state
 * it needs within a generous bound.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type * as Schema from "../src/Schema.js"
import * as Store from "../src/Store.js"

const workers = path.join(import.meta.dirname, "fixtures", "workers")
const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-changes-"))

const counter = (state: Schema.State): number => {
  const value = state.unknownFields?.["counter"]
  return typeof value === "number" ? value : 0
}

/** Runs a writer to completion; resolves with its exit code. */
const runWriter = (command: string, args: ReadonlyArray<string>) =>
  Effect.async<number>((resume) => {
    const child = spawn(command, args, { stdio: ["ignore", "ignore", "inherit"] })
    child.on("close", (code) => resume(Effect.succeed(code ?? -1)))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** Renames `contents` in as state.json, as every writer does. */
const renameIn = (dir: string, contents: string) => {
  const temp = path.join(dir, "state.json.tmp1")
  fs.writeFileSync(temp, contents)
  fs.renameSync(temp, path.join(dir, "state.json"))
}

const watchers = () => process.getActiveResourcesInfo().filter((name) => name === "FSEventWrap").length

/** The watch count once Node has finished closing (a closed watcher's handle goes on the next turn), within a bound. */
const settledWatchers = (expected: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1000 && watchers() !== expected; i++) yield* Effect.sleep("10 millis")
    return watchers()
  })

/**
 * Collects the counters `changes` emits until `last`, once the stream has
 * started (so the writer's first write is after the first state).
 */
const countersUntil = (store: Store.StateStoreService, last: number, writer: Effect.Effect<number>) =>
  Effect.gen(function*() {
    const started = yield* Deferred.make<void>()
    const seen = yield* store.changes.pipe(
      Stream.tap(() => Deferred.succeed(started, undefined)),
      Stream.map(counter),
      Stream.takeUntil((n) => n >= last),
      Stream.runCollect,
      Effect.map(Chunk.toArray),
      Effect.fork
    )
    yield* Deferred.await(started)
    expect(yield* writer).toBe(0)
    // The final state must arrive: generous, as the machine may be busy.
    return yield* Fiber.join(seen).pipe(Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => "no final state" }))
  })

const increasing = (seen: ReadonlyArray<number>) => {
  for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThan(seen[i - 1]!)
}

const layer = (dir: string, options?: Store.Options) => Store.layerNode({ dir, ...options })

describe("changes across processes", () => {
  for (const mode of ["watch", "poll"] as const) {
    it.live(`a python3 writer's renames (${mode}): counters never go backwards, the final state arrives`, () => {
      const dir = tempDir()
      return Effect.gen(function*() {
        const store = yield* Store.StateStore
        const seen = yield* countersUntil(
          store,
          200,
          runWriter("python3", [path.join(workers, "py-counter-writer.py"), dir, "200"])
        )
        expect(seen[0]).toBe(0)
        expect(seen.at(-1)).toBe(200)
        increasing(seen)
      }).pipe(Effect.provide(layer(dir, { watch: { mode, pollInterval: "5 millis" } })))
    }, 120_000)
  }

  it.live("a Node writer through its own store: counters never go backwards, the final state arrives", () => {
    const dir = tempDir()
    return Effect.gen(function*() {
      const store = yield* Store.StateStore
      const seen = yield* countersUntil(
        store,
        100,
        runWriter(process.execPath, [path.join(workers, "counter-worker.mjs"), dir, "100"])
      )
      expect(seen.at(-1)).toBe(100)
      increasing(seen)
    }).pipe(Effect.provide(layer(dir)))
  }, 120_000)

  it.live("a directory that does not exist yet is polled: its first state arrives once it is made", () => {
    const dir = path.join(tempDir(), "later")
    return secondStateArrives(dir, () => fs.mkdirSync(dir))
  }, 120_000)
})

/**
 * With `prepare` done to `dir` after the first state, a counter of 1 renamed
 * into `dir` is the next state `changes` emits (polling every 10 ms where
 * the directory is not watched).
 */
const secondStateArrives = (dir: string, prepare: () => void) =>
  Effect.gen(function*() {
    const store = yield* Store.StateStore
    const seen = yield* countersUntil(
      store,
      1,
      Effect.sync(() => {
        prepare()
        renameIn(dir, JSON.stringify({ counter: 1 }))
        return 0
      })
    )
    expect(seen).toEqual([0, 1])
  }).pipe(Effect.provide(layer(dir, { watch: { pollInterval: "10 millis" } })))

describe("changes when the state directory is replaced", () => {
  for (const how of ["renamed away", "removed"] as const) {
    it.live(`a state directory ${how} and made again: its next state still arrives`, () => {
      const dir = tempDir()
      // The watch was on the directory that is then gone; only the name is the same.
      return secondStateArrives(dir, () => {
        if (how === "renamed away") fs.renameSync(dir, `${dir}.old`)
        else fs.rmSync(dir, { recursive: true })
        fs.mkdirSync(dir)
      })
    }, 120_000)
  }
})

describe("changes and a corrupt file", () => {
  it.live("a corrupt file fails the stream with CorruptStateFile, keeps the file, and Stream.retry resumes once it is good", () => {
    const dir = tempDir()
    return Effect.gen(function*() {
      renameIn(dir, JSON.stringify({ counter: 1 }))
      const store = yield* Store.StateStore
      const errors: Array<string> = []
      const started = yield* Deferred.make<void>()
      const seen = yield* store.changes.pipe(
        Stream.tap(() => Deferred.succeed(started, undefined)),
        Stream.tapError((e) => Effect.sync(() => errors.push(e._tag))),
        Stream.retry(Schedule.spaced("10 millis")),
        Stream.map(counter),
        Stream.takeUntil((n) => n === 2),
        Stream.runCollect,
        Effect.map(Chunk.toArray),
        Effect.fork
      )
      yield* Deferred.await(started)
      renameIn(dir, "{\"counter\": ")
      // The failure is seen, and the corrupt file is left for a person to repair.
      while (errors.length === 0) yield* Effect.sleep("5 millis")
      expect(fs.readFileSync(path.join(dir, "state.json"), "utf8")).toBe("{\"counter\": ")
      renameIn(dir, JSON.stringify({ counter: 2 }))
      expect(yield* Fiber.join(seen).pipe(Effect.timeout("60 seconds"))).toEqual([1, 2])
      expect(errors[0]).toBe("CorruptStateFile")
    }).pipe(Effect.provide(layer(dir)))
  }, 120_000)

  it.live("without retry the failure ends the stream, typed", () => {
    const dir = tempDir()
    return Effect.gen(function*() {
      renameIn(dir, "not json")
      const store = yield* Store.StateStore
      const result = yield* Effect.either(Stream.runDrain(store.changes))
      expect(Either.isLeft(result) && result.left._tag).toBe("CorruptStateFile")
    }).pipe(Effect.provide(layer(dir)))
  })
})

describe("changes and interruption", () => {
  it.live("interrupting the consumer, or ending the stream, releases the directory watch", () => {
    const dir = tempDir()
    return Effect.gen(function*() {
      const store = yield* Store.StateStore
      // Whatever earlier tests watched is released by now.
      const before = yield* settledWatchers(0)
      expect(before).toBe(0)
      const started = yield* Deferred.make<void>()
      const consumer = yield* store.changes.pipe(
        Stream.tap(() => Deferred.succeed(started, undefined)),
        Stream.runDrain,
        Effect.fork
      )
      yield* Deferred.await(started)
      expect(watchers()).toBe(before + 1)
      expect(Exit.isInterrupted(yield* Fiber.interrupt(consumer))).toBe(true)
      expect(yield* settledWatchers(before)).toBe(before)
      // Taking the first state and ending: released too.
      yield* Stream.runDrain(Stream.take(store.changes, 1))
      expect(yield* settledWatchers(before)).toBe(before)
    }).pipe(Effect.provide(layer(dir)))
  })
})
