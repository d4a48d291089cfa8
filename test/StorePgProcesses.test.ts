/**
 * The PostgreSQL store shared by real processes (the built dist/, as a user
 * runs it): concurrent writers lose nothing (and a watcher in this process
 * sees their last write), a writer SIGKILLed mid-update
 * (or inside its transaction, holding the lock) loses nothing acknowledged
 * and blocks no one, and a lock held too long is a
 * typed LockTimeout.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as path from "node:path"
import * as Store from "../src/Store.js"
import * as StorePg from "../src/StorePg.js"
import { counterOf, eventually, Lines, soak } from "./fixtures/workers/harness.js"
import { freshDatabase } from "./StorePgServer.js"

const worker = path.join(import.meta.dirname, "..", "scripts", "pg-counter-worker.mjs")
const newDatabase = () => Effect.runPromise(freshDatabase)
const loadCounter = (url: string) =>
  Effect.runPromise(
    Effect.flatMap(Store.StateStore, (store) => store.load).pipe(Effect.provide(StorePg.layerUrl(url)), Effect.map(counterOf))
  )

describe("StorePg across processes", () => {
  const rounds = soak ? 250 : 50
  // Each kill round starts two Node processes (about 1.5 s each on a busy 2-core machine): room for the soak's.
  const killTimeout = soak ? 300_000 : 60_000
  it(`4 processes x ${rounds} updates end with the exact count, every value acknowledged once, and a watcher sees the last`, async () => {
    const url = await newDatabase()
    // Another process's `changes` (this one's): every write comes from the workers, so only LISTEN can tell it.
    const watched: Array<number> = []
    const watcher = Effect.runFork(
      Effect.flatMap(Store.StateStore, (store) =>
        Stream.runForEach(store.changes, (state) => Effect.sync(() => watched.push(counterOf(state))))).pipe(
          Effect.provide(StorePg.layerUrl(url))
        )
    )
    await eventually(() => watched.length > 0, 30_000, "the watcher's first state")
    const writers = Array.from({ length: 4 }, () => new Lines(process.execPath, [worker, url, String(rounds)]))
    const exits = await Promise.all(writers.map((w) => w.closed))
    for (const [i, exit] of exits.entries()) expect({ exit, stderr: writers[i]!.stderr }).toEqual({ exit: { code: 0, signal: null }, stderr: "" })
    const total = 4 * rounds
    expect(await loadCounter(url)).toBe(total)
    const acks = writers.flatMap((w) => w.acks()).sort((a, b) => a - b)
    expect(acks).toEqual(Array.from({ length: total }, (_, i) => i + 1))
    await eventually(() => watched.at(-1) === total, 30_000, `the watcher seeing ${total}`)
    await Effect.runPromise(Fiber.interrupt(watcher))
    for (let i = 1; i < watched.length; i++) expect(watched[i]!).toBeGreaterThan(watched[i - 1]!)
  })

  it("a writer SIGKILLed mid-run loses nothing acknowledged, and the next writer is not blocked", async () => {
    const url = await newDatabase()
    for (let round = 0; round < (soak ? 20 : 3); round++) {
      const victim = new Lines(process.execPath, [worker, url, "0"])
      await victim.waitFor((line) => line.startsWith("ack "), 60_000)
      victim.child.kill("SIGKILL")
      await victim.closed
      const acked = Math.max(...victim.acks())
      const stored = await loadCounter(url)
      // Everything acknowledged is there; at most the one update in flight landed without its ack.
      expect(stored).toBeGreaterThanOrEqual(acked)
      expect(stored).toBeLessThanOrEqual(acked + 1)
      const next = new Lines(process.execPath, [worker, url, "1"])
      expect(await next.closed).toEqual({ code: 0, signal: null })
      expect(next.acks()).toEqual([stored + 1])
    }
  }, killTimeout)

  it("a writer SIGKILLed inside its transaction (the lock held) commits nothing, and the next writer is not blocked", async () => {
    const url = await newDatabase()
    for (let round = 0; round < (soak ? 10 : 2); round++) {
      const victim = new Lines(process.execPath, [worker, url, "1", "hold"])
      await victim.waitFor((line) => line.startsWith("holding "), 60_000)
      const acked = Math.max(...victim.acks())
      victim.child.kill("SIGKILL")
      await victim.closed
      // The server sees the connection close, rolls the transaction back and frees the lock.
      expect(await loadCounter(url)).toBe(acked)
      const next = new Lines(process.execPath, [worker, url, "1"])
      expect(await next.closed).toEqual({ code: 0, signal: null })
      expect(next.acks()).toEqual([acked + 1])
    }
  }, killTimeout)

  it.live("an update waiting longer than lockTimeout for the lock fails with LockTimeout, writing nothing", () =>
    Effect.gen(function*() {
      const url = yield* freshDatabase
      const holder = yield* Layer.build(StorePg.layerUrl(url))
      const waiter = yield* Layer.build(StorePg.layerUrl(url, { lockTimeout: "300 millis" }))
      const holderStore = yield* Effect.provide(Store.StateStore, holder)
      const waiterStore = yield* Effect.provide(Store.StateStore, waiter)
      const tag = yield* holderStore.modifyEffect((state) =>
        Effect.map(
          Effect.flip(waiterStore.update((s) => ({ ...s, repos: { ...s.repos, never: { sourcePath: "/never" } } }))),
          (error) => [error._tag, state] as const
        )
      )
      expect(tag).toBe("LockTimeout")
      expect((yield* waiterStore.load).repos).toEqual({})
    }).pipe(Effect.scoped))
})
