/**
 * StorePg across a server restart, on a throwaway cluster of the test's own
 * (see `ownServer`): while the server is down every operation fails with a
 * typed `StateIoError` (never a raw SqlError, never a hang); once it is back
 * the next update succeeds, nothing acknowledged is lost, and `changes`
 * re-syncs without having failed (or, with a retry too short for the
 * restart, fails with `StateIoError` rather than going silent).
 */
import { expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type * as Schema from "../src/Schema.js"
import { StateIoError } from "../src/StateError.js"
import * as Store from "../src/Store.js"
import * as StorePg from "../src/StorePg.js"
import { ownServer } from "./StorePgServer.js"

const counter = (state: Schema.State): number => {
  const value = state.unknownFields?.["counter"]
  return typeof value === "number" ? value : 0
}

const increment = (state: Schema.State): readonly [number, Schema.State] => {
  const next = counter(state) + 1
  return [next, { ...state, unknownFields: { ...state.unknownFields, counter: next } }]
}

/** Bounded, so that a hang is a failure that says what hung. */
const within = (what: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.timeoutFail(effect, { duration: "30 seconds", onTimeout: () => new Error(`hung: ${what}`) })

const storeAt = (url: string, options?: StorePg.Options) =>
  Effect.map(Layer.build(StorePg.layerUrl(url, options)), (ctx) => Context.get(ctx, Store.StateStore))

it.live("a server restarted mid-run: typed errors while it is down, then the next update succeeds, nothing acknowledged is lost, and changes re-syncs", () =>
  Effect.gen(function*() {
    const server = yield* ownServer
    // The writer gives up on a connection quickly (the default retry): its operations fail while the server is
    // down. The watcher retries for up to about 30 seconds: its `changes` outlives the restart.
    const writer = yield* storeAt(server.url)
    const watcher = yield* storeAt(server.url, {
      retry: Schedule.intersect(Schedule.spaced("100 millis"), Schedule.recurs(300))
    })

    const seen = yield* SubscriptionRef.make(0)
    const watching = yield* watcher.changes.pipe(
      Stream.runForEach((state) => SubscriptionRef.set(seen, counter(state))),
      Effect.forkScoped
    )
    // With the default retry, a watch gives up while the server is down: its stream fails, typed.
    const impatient = yield* storeAt(server.url)
    const impatientStarted = yield* Deferred.make<void>()
    const impatientEnd = yield* impatient.changes.pipe(
      Stream.tap(() => Deferred.succeed(impatientStarted, undefined)),
      Stream.runDrain,
      Effect.flip,
      Effect.forkScoped
    )
    yield* Deferred.await(impatientStarted)
    const sees = (n: number) =>
      seen.changes.pipe(Stream.takeUntil((c) => c >= n), Stream.runDrain, within(`changes reaching ${n}`))

    const acks = yield* Ref.make<ReadonlyArray<number>>([])
    const errors = yield* Ref.make<ReadonlyArray<unknown>>([])
    const stopping = yield* Ref.make(false)
    // Updates one after another until told to stop (after an acknowledged one), recording each outcome.
    const writing = yield* Effect.gen(function*() {
      while (true) {
        const outcome = yield* Effect.either(within("an update")(writer.modify(increment)))
        if (outcome._tag === "Right") {
          yield* Ref.update(acks, (all) => [...all, outcome.right])
          if (yield* Ref.get(stopping)) return
        } else {
          yield* Ref.update(errors, (all) => [...all, outcome.left])
          yield* Effect.sleep("50 millis")
        }
      }
    }).pipe(Effect.fork)
    const acked = (n: number) =>
      Ref.get(acks).pipe(
        Effect.repeat({ until: (all) => all.length >= n, schedule: Schedule.spaced("20 millis") }),
        within(`${n} acknowledged updates`)
      )

    yield* acked(10)
    yield* server.stop("immediate")
    const ackedBefore = (yield* Ref.get(acks)).at(-1)!
    // Down: a load fails too, typed.
    const loadDown = yield* Effect.flip(within("a load while down")(writer.load))
    expect(loadDown).toBeInstanceOf(StateIoError)
    expect(yield* within("changes failing while down")(Fiber.join(impatientEnd))).toBeInstanceOf(StateIoError)
    yield* Ref.get(errors).pipe(
      Effect.repeat({ until: (all) => all.length >= 3, schedule: Schedule.spaced("20 millis") }),
      within("failed updates while down")
    )
    yield* server.start
    const afterRestart = (yield* Ref.get(acks)).length
    yield* acked(afterRestart + 10)
    yield* Ref.set(stopping, true)
    yield* Fiber.join(writing)

    const all = yield* Ref.get(acks)
    const failures = yield* Ref.get(errors)
    // Every failure a StateIoError (no raw SqlError, no timeout of ours), and the acknowledged values strictly
    // increasing: none was lost across the crash. An update that failed as the server died may still have
    // committed (its acknowledgement was lost with the connection): at most one per failure.
    for (const error of failures) expect(error).toBeInstanceOf(StateIoError)
    for (let i = 1; i < all.length; i++) expect(all[i]!).toBeGreaterThan(all[i - 1]!)
    const firstAfter = all.find((n) => n > ackedBefore)!
    expect(firstAfter - ackedBefore).toBeLessThanOrEqual(1 + failures.length)
    const last = all.at(-1)!
    expect(counter(yield* within("a load after")(writer.load))).toBe(last)
    const fresh = yield* storeAt(server.url)
    expect(counter(yield* fresh.load)).toBe(last)
    // The watcher's stream survived the restart and caught up.
    yield* sees(last)
    expect(yield* Fiber.poll(watching)).toEqual(expect.objectContaining({ _tag: "None" }))
  }).pipe(Effect.scoped), 120_000)
