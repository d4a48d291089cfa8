/**
 * The behaviour every `StateStore` layer must have. `Store.test.ts` runs it
 * against `layerNode` (in a fresh temp directory per test) and
 * `layerMemory`, as `@effect/platform` shares its KeyValueStore suite.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as StateSchema from "../../src/Schema.js"
import * as Store from "../../src/Store.js"
import * as Timestamp from "../../src/Timestamp.js"

class NotToday extends Schema.TaggedError<NotToday>()("NotToday", { reason: Schema.String }) {}

class Greeting extends Context.Tag("Greeting")<Greeting, string>() {}

const repo = (sourcePath: string): StateSchema.RepoInfo => ({ sourcePath })

const withRepo = (name: string, sourcePath: string) => (state: StateSchema.State): StateSchema.State => ({
  ...state,
  repos: { ...state.repos, [name]: repo(sourcePath) }
})

const counter = (state: StateSchema.State): number => {
  const value = state.unknownFields?.["counter"]
  return typeof value === "number" ? value : 0
}

const increment = (state: StateSchema.State): StateSchema.State => ({
  ...state,
  unknownFields: { ...state.unknownFields, counter: counter(state) + 1 }
})

const job = (id: string): StateSchema.Job => ({
  id,
  repo: "r",
  todoId: "t",
  agent: "opencode",
  stage: "implementing",
  status: "active",
  createdAt: Timestamp.zero,
  startedAt: Timestamp.zero,
  updatedAt: Timestamp.zero,
  completedAt: Timestamp.zero,
  unknownFields: { priority: 3 }
})

/** Runs the contract against a fresh store from `makeLayer` in every test. */
export const stateStoreContract = (name: string, makeLayer: () => Layer.Layer<Store.StateStore>) =>
  describe(`StateStore contract: ${name}`, () => {
    const run = <A, E>(effect: Effect.Effect<A, E, Store.StateStore>) =>
      Effect.runPromise(Effect.provide(effect, makeLayer()))

    it("a new store loads the empty state", () =>
      run(Effect.gen(function*() {
        const store = yield* Store.StateStore
        const state = yield* store.load
        expect(state.repos).toEqual({})
        expect(state.workspaces).toEqual({})
        expect(state.opencodeSessions).toEqual({})
        expect(state.jobs).toEqual({})
      })))

    it("update writes what f returns, and load reads it back", () =>
      run(Effect.gen(function*() {
        const store = yield* Store.StateStore
        yield* store.update(withRepo("a", "/src/a"))
        yield* store.update(withRepo("b", "/src/b"))
        const state = yield* store.load
        expect(state.repos).toEqual({ a: repo("/src/a"), b: repo("/src/b") })
      })))

    it("modify returns its result and writes its state", () =>
      run(Effect.gen(function*() {
        const store = yield* Store.StateStore
        const size = yield* store.modify((state) => [Object.keys(state.repos).length, withRepo("a", "/a")(state)])
        const after = yield* store.modify((state) => [Object.keys(state.repos).length, state])
        expect([size, after]).toEqual([0, 1])
      })))

    it("a failing updateEffect leaves the state untouched and keeps its own error type", () =>
      run(Effect.gen(function*() {
        const store = yield* Store.StateStore
        yield* store.update(withRepo("a", "/a"))
        const before = yield* store.load
        const error = yield* store.updateEffect((state) =>
          Effect.zipRight(Effect.succeed(withRepo("b", "/b")(state)), new NotToday({ reason: "no" }))
        ).pipe(Effect.flip)
        expect(error).toBeInstanceOf(NotToday)
        const caught = yield* store.updateEffect(() => new NotToday({ reason: "still no" })).pipe(
          Effect.catchTag("NotToday", (e) => Effect.succeed(e.reason))
        )
        expect(caught).toBe("still no")
        expect((yield* store.load).repos).toEqual(before.repos)
      })))

    it("a failing modifyEffect leaves the state untouched", () =>
      run(Effect.gen(function*() {
        const store = yield* Store.StateStore
        const exit = yield* store.modifyEffect(() => Effect.fail("boom" as const)).pipe(Effect.exit)
        expect(exit).toEqual(Exit.fail("boom"))
        expect((yield* store.load).repos).toEqual({})
      })))

    it("an update whose f throws is a defect and writes nothing", () =>
      run(Effect.gen(function*() {
        const store = yield* Store.StateStore
        const exit = yield* store.update(() => {
          throw new Error("bug")
        }).pipe(Effect.exit)
        expect(Exit.isFailure(exit) && !Exit.isInterrupted(exit)).toBe(true)
        expect((yield* store.load).repos).toEqual({})
      })))

    it("updateEffect and modifyEffect pass f's requirements through", () =>
      run(Effect.gen(function*() {
        const store = yield* Store.StateStore
        const greeting = yield* store.modifyEffect((state) =>
          Effect.map(Greeting, (hello) => [hello, withRepo(hello, "/hello")(state)] as const)
        ).pipe(Effect.provideService(Greeting, "hi"))
        expect(greeting).toBe("hi")
        expect(Object.keys((yield* store.load).repos)).toEqual(["hi"])
      })))

    it("an update that returns the state it was given changes nothing", () =>
      run(Effect.gen(function*() {
        const store = yield* Store.StateStore
        yield* store.update(withRepo("a", "/a"))
        const before = yield* store.load
        yield* store.update((state) => state)
        const after = yield* store.load
        expect(after).toBe(before)
      })))

    it("concurrent updates are serialized: none is lost", () =>
      run(Effect.gen(function*() {
        const store = yield* Store.StateStore
        yield* Effect.all(Array.from({ length: 50 }, () => store.update(increment)), { concurrency: "unbounded" })
        expect(counter(yield* store.load)).toBe(50)
      })))

    it("an update waits for the one in progress", () =>
      run(Effect.gen(function*() {
        const store = yield* Store.StateStore
        const inside = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const first = yield* store.updateEffect((state) =>
          Effect.zipRight(
            Deferred.succeed(inside, undefined),
            Effect.as(Deferred.await(release), withRepo("first", "/1")(state))
          )
        ).pipe(Effect.fork)
        yield* Deferred.await(inside)
        const second = yield* store.modify((state) => [Object.keys(state.repos), withRepo("second", "/2")(state)])
          .pipe(Effect.fork)
        yield* Effect.yieldNow()
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(first)
        // The second update saw the first one's write.
        expect(yield* Fiber.join(second)).toEqual(["first"])
      })))

    it("interrupting an update while f runs leaves the state untouched", () =>
      run(Effect.gen(function*() {
        const store = yield* Store.StateStore
        const inside = yield* Deferred.make<void>()
        const fiber = yield* store.updateEffect((state) =>
          Effect.zipRight(Deferred.succeed(inside, undefined), Effect.as(Effect.never, withRepo("x", "/x")(state)))
        ).pipe(Effect.fork)
        yield* Deferred.await(inside)
        yield* Fiber.interrupt(fiber)
        expect((yield* store.load).repos).toEqual({})
        // And the store is usable afterwards (the lock was released).
        yield* store.update(withRepo("y", "/y"))
        expect(Object.keys((yield* store.load).repos)).toEqual(["y"])
      })))

    it("save replaces the state; saving the same state again changes nothing", () =>
      run(Effect.gen(function*() {
        const store = yield* Store.StateStore
        const state: StateSchema.State = { ...StateSchema.empty, jobs: { j: job("j") } }
        yield* store.save(state)
        const loaded = yield* store.load
        expect(loaded.jobs).toEqual({ j: job("j") })
        yield* store.save(loaded)
        expect(yield* store.load).toBe(loaded)
      })))

    it("unknown fields survive an update of something else", () =>
      run(Effect.gen(function*() {
        const store = yield* Store.StateStore
        yield* store.save({ ...StateSchema.empty, jobs: { j: job("j") }, unknownFields: { version: 3 } })
        yield* store.update(withRepo("a", "/a"))
        const state = yield* store.load
        expect(state.unknownFields).toEqual({ version: 3 })
        expect(state.jobs["j"]!.unknownFields).toEqual({ priority: 3 })
      })))
  })
