/**
 * The behaviour every store has, whatever its backend: `Store.test.ts` runs
 * it over the file backend (a fresh temp directory per test) and the memory
 * backend, as `@effect/platform` shares its KeyValueStore suite. Each test
 * builds a store with `Store.makeWith` over a backend whose `replace` is
 * counted, so "writes nothing" is observed at the backend, and a second,
 * fresh store over the same backend stands for another process.
 *
 * The tests assert behaviour, never a caching detail: what `load` returns,
 * what a fresh store reads, what reached the backend, how an effect exits.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Chunk from "effect/Chunk"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as Scope from "effect/Scope"
import * as StateSchema from "../../src/Schema.js"
import type { StateError } from "../../src/StateError.js"
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

/** A store over `backend` whose writes are counted, and a way to open a fresh one over the same backend. */
const setup = (makeBackend: Effect.Effect<Store.Backend, never, Scope.Scope>) =>
  Effect.gen(function*() {
    const backend = yield* makeBackend
    const writes: Array<Store.Change> = []
    const counted: Store.Backend = {
      ...backend,
      replace: (change) => Effect.tap(backend.replace(change), () => Effect.sync(() => writes.push(change)))
    }
    const store = yield* Store.makeWith(counted)
    /** What another process would read now. */
    const freshLoad = Effect.scoped(Effect.flatMap(Store.makeWith(backend), (fresh) => fresh.load))
    /** Another store over the same backend, standing for another process that keeps running. */
    const other = yield* Store.makeWith(backend)
    return { store, writes, freshLoad, other }
  })

/** The defect of an exit (Effect.fn may wrap it to add its span to the stack); fails the test for anything else. */
const defectOf = <A, E>(exit: Exit.Exit<A, E>): unknown => {
  if (Exit.isSuccess(exit)) return expect.fail("expected a defect, got a success")
  const defects = [...Cause.defects(exit.cause)]
  expect(defects.length, Cause.pretty(exit.cause)).toBe(1)
  expect(Cause.isInterrupted(exit.cause)).toBe(false)
  const defect = defects[0]
  return defect instanceof Error ? defect.message : defect
}

/** Runs the contract against a fresh backend from `makeBackend` in every test. */
export const stateStoreContract = (
  name: string,
  makeBackend: Effect.Effect<Store.Backend, never, Scope.Scope>,
  /** `watches`: the backend reports other stores' writes (`Backend.watch`), so `changes` sees them. */
  options: { readonly watches?: boolean } = {}
) =>
  describe(`StateStore contract: ${name}`, () => {
    const watches = options.watches ?? true
    const setupStore = setup(makeBackend)

    it.scoped("a new store loads the empty state, and writes nothing to do so", () =>
      Effect.gen(function*() {
        const { store, writes } = yield* setupStore
        const state = yield* store.load
        expect(state).toEqual(StateSchema.empty)
        expect(writes).toEqual([])
      }))

    it.scoped("update writes what f returns: the writer's load and a fresh store's load agree", () =>
      Effect.gen(function*() {
        const { freshLoad, store, writes } = yield* setupStore
        yield* store.update(withRepo("a", "/src/a"))
        yield* store.update(withRepo("b", "/src/b"))
        const state = yield* store.load
        expect(state.repos).toEqual({ a: repo("/src/a"), b: repo("/src/b") })
        expect(yield* freshLoad).toEqual(state)
        expect(writes.length).toBe(2)
      }))

    it.scoped("save then load equals what a fresh store loads, for states the file holds in only one way", () =>
      Effect.gen(function*() {
        const { freshLoad, store } = yield* setupStore
        const states: ReadonlyArray<StateSchema.State> = [
          { ...StateSchema.empty, jobs: { j: job("j") }, unknownFields: { version: 3, nested: { a: [1, "x", null] } } },
          // An empty purpose is no purpose in the file: the writer must not see "" where others see none.
          {
            ...StateSchema.empty,
            workspaces: {
              "r/ws": {
                name: "ws",
                repo: "r",
                path: "/ws",
                purpose: "",
                status: "available",
                createdAt: Timestamp.zero,
                updatedAt: Timestamp.zero,
                acquiredAt: Timestamp.zero,
                provisioned: false
              }
            }
          }
        ]
        for (const state of states) {
          const saved = yield* Effect.either(store.save(state))
          // A state the file cannot hold may be refused, typed; one it can hold must read back alike.
          if (saved._tag === "Left") {
            expect(saved.left._tag).toBe("InvalidState")
            continue
          }
          expect(yield* store.load).toEqual(yield* freshLoad)
        }
      }))

    it.scoped("modify returns its result and writes its state", () =>
      Effect.gen(function*() {
        const { freshLoad, store } = yield* setupStore
        const size = yield* store.modify((state) => [Object.keys(state.repos).length, withRepo("a", "/a")(state)])
        const after = yield* store.modify((state) => [Object.keys(state.repos).length, state])
        expect([size, after]).toEqual([0, 1])
        expect(Object.keys((yield* freshLoad).repos)).toEqual(["a"])
      }))

    it.scoped("a failing updateEffect writes nothing and keeps its own error type", () =>
      Effect.gen(function*() {
        const { freshLoad, store, writes } = yield* setupStore
        yield* store.update(withRepo("a", "/a"))
        const error = yield* store.updateEffect((state) =>
          Effect.zipRight(Effect.succeed(withRepo("b", "/b")(state)), new NotToday({ reason: "no" }))
        ).pipe(Effect.flip)
        expect(error).toBeInstanceOf(NotToday)
        const caught = yield* store.updateEffect(() => new NotToday({ reason: "still no" })).pipe(
          Effect.catchTag("NotToday", (e) => Effect.succeed(e.reason))
        )
        expect(caught).toBe("still no")
        const exit = yield* store.modifyEffect(() => Effect.fail("boom" as const)).pipe(Effect.exit)
        expect(exit).toEqual(Exit.fail("boom"))
        expect(writes.length).toBe(1)
        expect(Object.keys((yield* store.load).repos)).toEqual(["a"])
        expect(Object.keys((yield* freshLoad).repos)).toEqual(["a"])
      }))

    it.scoped("an f that throws is a defect carrying the thrown error, writes nothing, and the store stays usable", () =>
      Effect.gen(function*() {
        const { store, writes } = yield* setupStore
        const bug = "bug"
        const thrower = (): never => {
          throw new Error(bug)
        }
        expect(defectOf(yield* Effect.exit(store.update(thrower)))).toBe(bug)
        expect(defectOf(yield* Effect.exit(store.modify(thrower)))).toBe(bug)
        // Throwing while building the effect, rather than inside it.
        expect(defectOf(yield* Effect.exit(store.updateEffect<never, never>(thrower)))).toBe(bug)
        expect(defectOf(yield* Effect.exit(store.modifyEffect<void, never, never>(thrower)))).toBe(bug)
        expect(writes).toEqual([])
        yield* store.update(withRepo("after", "/after"))
        expect(Object.keys((yield* store.load).repos)).toEqual(["after"])
      }))

    it.scoped("updateEffect and modifyEffect pass f's requirements through", () =>
      Effect.gen(function*() {
        const { store } = yield* setupStore
        const greeting = yield* store.modifyEffect((state) =>
          Effect.map(Greeting, (hello) => [hello, withRepo(hello, "/hello")(state)] as const)
        ).pipe(Effect.provideService(Greeting, "hi"))
        expect(greeting).toBe("hi")
        expect(Object.keys((yield* store.load).repos)).toEqual(["hi"])
      }))

    it.scoped("an update whose f returns the very state it was given writes nothing", () =>
      Effect.gen(function*() {
        const { store, writes } = yield* setupStore
        yield* store.update(withRepo("a", "/a"))
        const before = yield* store.load
        yield* store.update((state) => state)
        yield* store.modify((state) => [1, state] as const)
        expect(writes.length).toBe(1)
        expect(yield* store.load).toEqual(before)
      }))

    it.scoped("save writes only when the encoding differs from what is stored", () =>
      Effect.gen(function*() {
        const { freshLoad, store, writes } = yield* setupStore
        const state: StateSchema.State = { ...StateSchema.empty, jobs: { j: job("j") } }
        yield* store.save(state)
        expect(writes.length).toBe(1)
        // The same state again, as loaded and as a new equal object: the same bytes, no write.
        const loaded = yield* store.load
        yield* store.save(loaded)
        yield* store.save({ ...state, jobs: { j: job("j") } })
        expect(writes.length).toBe(1)
        yield* store.save(StateSchema.empty)
        expect(writes.length).toBe(2)
        expect(yield* freshLoad).toEqual(StateSchema.empty)
      }))

    it.scoped("a backend's write sees the previous and the next state, unchanged records being the same objects", () =>
      Effect.gen(function*() {
        const { store, writes } = yield* setupStore
        yield* store.save({ ...StateSchema.empty, jobs: { j: job("j"), k: job("k") } })
        yield* store.update((state) => ({ ...state, jobs: { ...state.jobs, k: { ...state.jobs["k"]!, status: "completed" } } }))
        const change = writes[1]!
        expect(change.next.state.jobs["j"]).toBe(change.previous.state.jobs["j"])
        expect(change.next.state.jobs["k"]?.status).toBe("completed")
        expect(change.previous.state.jobs["k"]?.status).toBe("active")
      }))

    it.scoped("concurrent updates are serialized: none is lost", () =>
      Effect.gen(function*() {
        const { freshLoad, store } = yield* setupStore
        yield* Effect.all(Array.from({ length: 50 }, () => store.update(increment)), { concurrency: "unbounded" })
        expect(counter(yield* store.load)).toBe(50)
        expect(counter(yield* freshLoad)).toBe(50)
      }))

    it.scoped("two stores over one backend see each other's writes", () =>
      Effect.gen(function*() {
        const backend = yield* makeBackend
        const one = yield* Store.makeWith(backend)
        const two = yield* Store.makeWith(backend)
        expect(yield* one.load).toEqual(StateSchema.empty)
        yield* two.update(increment)
        expect(counter(yield* one.load)).toBe(1)
        yield* Effect.all([one.update(increment), two.update(increment), one.update(increment)], {
          concurrency: "unbounded"
        })
        expect(counter(yield* two.load)).toBe(4)
        expect(yield* one.load).toEqual(yield* two.load)
      }))

    it.scoped("an update waits for the one in progress, and sees its write", () =>
      Effect.gen(function*() {
        const { store } = yield* setupStore
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
        expect(yield* Fiber.join(second)).toEqual(["first"])
      }))

    it.scoped("interrupting an update while f runs: interrupted, nothing written, the store usable after", () =>
      Effect.gen(function*() {
        const { store, writes } = yield* setupStore
        const inside = yield* Deferred.make<void>()
        const fiber = yield* store.updateEffect((state) =>
          Effect.zipRight(Deferred.succeed(inside, undefined), Effect.as(Effect.never, withRepo("x", "/x")(state)))
        ).pipe(Effect.fork)
        yield* Deferred.await(inside)
        const exit = yield* Fiber.interrupt(fiber)
        expect(Exit.isInterrupted(exit)).toBe(true)
        expect(writes).toEqual([])
        expect((yield* store.load).repos).toEqual({})
        yield* store.update(withRepo("y", "/y"))
        expect(Object.keys((yield* store.load).repos)).toEqual(["y"])
      }))

    it.scoped("an update waiting for another can be interrupted, and writes nothing", () =>
      Effect.gen(function*() {
        const { store, writes } = yield* setupStore
        const inside = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const holder = yield* store.updateEffect((state) =>
          Effect.zipRight(Deferred.succeed(inside, undefined), Effect.as(Deferred.await(release), state))
        ).pipe(Effect.fork)
        yield* Deferred.await(inside)
        const waiter = yield* Effect.fork(store.update(withRepo("never", "/never")))
        yield* Effect.yieldNow()
        expect(Exit.isInterrupted(yield* Fiber.interrupt(waiter))).toBe(true)
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holder)
        expect(writes).toEqual([])
        expect((yield* store.load).repos).toEqual({})
      }))

    it.scoped("unknown fields survive an update of something else", () =>
      Effect.gen(function*() {
        const { freshLoad, store } = yield* setupStore
        yield* store.save({ ...StateSchema.empty, jobs: { j: job("j") }, unknownFields: { version: 3 } })
        yield* store.update(withRepo("a", "/a"))
        const state = yield* freshLoad
        expect(state.unknownFields).toEqual({ version: 3 })
        expect(state.jobs["j"]!.unknownFields).toEqual({ priority: 3 })
      }))

    it.scoped("changes: the current state first, then each write, this store's and another's, in order", () =>
      Effect.gen(function*() {
        const { other, store } = yield* setupStore
        const last = watches ? 21 : 11
        yield* store.update(increment)
        const seen: Array<number> = []
        const started = yield* Deferred.make<void>()
        const consumer = yield* store.changes.pipe(
          Stream.map(counter),
          Stream.tap((n) => Effect.zipRight(Effect.sync(() => seen.push(n)), Deferred.succeed(started, undefined))),
          Stream.takeUntil((n) => n === last),
          Stream.runDrain,
          Effect.fork
        )
        // Once the first state is seen, every later write must reach the stream: another
        // store's too, where the backend watches.
        yield* Deferred.await(started)
        for (let i = 0; i < 10; i++) {
          yield* store.update(increment)
          if (watches) yield* other.update(increment)
        }
        yield* Fiber.join(consumer)
        expect(seen[0]).toBe(1)
        expect(seen.at(-1)).toBe(last)
        // Never backwards, never the same state twice in a row.
        for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThan(seen[i - 1]!)
      }))

    it.scoped("changes: a slow consumer is handed the latest state, not a backlog; a write of nothing emits nothing", () =>
      Effect.gen(function*() {
        const { store } = yield* setupStore
        const pull = yield* Stream.toPull(Stream.map(store.changes, counter))
        expect(Chunk.toReadonlyArray(yield* pull)).toEqual([0])
        for (let i = 0; i < 50; i++) yield* store.update(increment)
        yield* store.update((state) => state)
        const after: Array<number> = []
        while (after.at(-1) !== 50) after.push(...Chunk.toReadonlyArray(yield* pull))
        // At most what the stream's stages hold while it is not pulled, then the latest.
        expect(after.length).toBeLessThan(5)
        for (let i = 1; i < after.length; i++) expect(after[i]!).toBeGreaterThan(after[i - 1]!)
      }))

    it.scoped("changes: interrupting the consumer ends the stream; the store goes on", () =>
      Effect.gen(function*() {
        const { store } = yield* setupStore
        const started = yield* Deferred.make<void>()
        const consumer = yield* store.changes.pipe(
          Stream.tap(() => Deferred.succeed(started, undefined)),
          Stream.runDrain,
          Effect.fork
        )
        yield* Deferred.await(started)
        expect(Exit.isInterrupted(yield* Fiber.interrupt(consumer))).toBe(true)
        yield* store.update(increment)
        expect(counter(yield* store.load)).toBe(1)
        // A new subscription starts from the state now.
        const [first] = yield* Stream.runCollect(Stream.take(store.changes, 1))
        expect(counter(first!)).toBe(1)
      }))

    // ------------------------------------------------------------- one record at a time

    const setStatus = (status: StateSchema.JobStatus) => (found: Option.Option<StateSchema.Job>) =>
      Effect.succeed([Option.isSome(found), Option.map(found, (j) => ({ ...j, status }))] as const)

    /** The seed of the record tests: one job. */
    const oneJob: StateSchema.State = { ...StateSchema.empty, jobs: { j: job("j") } }

    /** After a refused or interrupted record write: only the seed was written, and the store still writes. */
    const onlyTheSeedThenAWrite = (
      { freshLoad, store, writes }: Pick<Effect.Effect.Success<typeof setupStore>, "freshLoad" | "store" | "writes">
    ) =>
      Effect.gen(function*() {
        expect(writes.length).toBe(1)
        expect(yield* freshLoad).toEqual(oneJob)
        yield* store.modifyRecord("jobs", "j", setStatus("completed"))
        expect((yield* freshLoad).jobs["j"]?.status).toBe("completed")
      })

    it.scoped("modifyRecord puts, replaces and removes one record; the rest of the state is kept, the same objects", () =>
      Effect.gen(function*() {
        const { freshLoad, store, writes } = yield* setupStore
        yield* store.save({
          ...StateSchema.empty,
          repos: { a: repo("/src/a"), b: repo("/src/b") },
          jobs: { j: job("j"), k: job("k") },
          unknownFields: { counter: 7 }
        })
        const before = yield* store.load
        expect(yield* store.modifyRecord("jobs", "k", setStatus("completed"))).toBe(true)
        expect(yield* store.modifyRecord("jobs", "n", (found) => Effect.succeed([found, Option.some(job("n"))] as const)))
          .toEqual(Option.none())
        expect(yield* store.modifyRecord("repos", "a", (found) => Effect.succeed([found, Option.none()] as const)))
          .toEqual(Option.some(repo("/src/a")))
        const after = yield* store.load
        expect(after.jobs["j"]).toBe(before.jobs["j"])
        expect(after.repos["b"]).toBe(before.repos["b"])
        expect(after.jobs["k"]).toEqual({ ...job("k"), status: "completed" })
        expect(after.jobs["n"]).toEqual(job("n"))
        expect(Object.keys(after.repos)).toEqual(["b"])
        expect(after.unknownFields).toEqual({ counter: 7 })
        expect(yield* freshLoad).toEqual(after)
        expect(writes.length).toBe(4)
        // Each write says which record it changed.
        expect(writes.slice(1).map((change) => change.records?.map(({ key, map }) => `${map}/${key}`))).toEqual([
          ["jobs/k"],
          ["jobs/n"],
          ["repos/a"]
        ])
        expect(writes[3]!.records?.[0]?.record).toBeUndefined()
      }))

    it.scoped("many record writes with no load between them, then a load: every one is there, in order", () =>
      Effect.gen(function*() {
        const { freshLoad, store, writes } = yield* setupStore
        yield* store.save({ ...StateSchema.empty, jobs: { j0: job("j0"), j1: job("j1") } })
        // More edits than a snapshot keeps pending (so the state is built on the way), repeats and removals among them.
        const expected: Record<string, StateSchema.Job> = { j0: job("j0"), j1: job("j1") }
        // A removal of what is not there writes nothing; every other step writes.
        let wrote = 0
        for (let i = 0; i < 90; i++) {
          const key = `j${i % 12}`
          if (i % 7 === 3) {
            yield* store.modifyRecord("jobs", key, (found) => Effect.succeed([found, Option.none()] as const))
            if (key in expected) wrote++
            delete expected[key]
          } else {
            // Each write builds on the record it is given, so a stale read shows in the result.
            const next = (found: Option.Option<StateSchema.Job>) => ({
              ...job(key),
              agent: `${Option.match(found, { onNone: () => "new", onSome: (j) => j.agent })},${i}`
            })
            yield* store.modifyRecord("jobs", key, (found) => Effect.succeed([undefined, Option.some(next(found))] as const))
            expected[key] = next(Option.fromNullable(expected[key]))
            wrote++
          }
          if (i === 50) expect((yield* store.load).jobs).toEqual(expected)
        }
        expect((yield* store.load).jobs).toEqual(expected)
        expect((yield* freshLoad).jobs).toEqual(expected)
        expect(writes.length).toBe(1 + wrote)
      }))

    it.scoped("modifyRecord writes nothing when f returns the record it was given, an equal copy, or removes what is not there", () =>
      Effect.gen(function*() {
        const { store, writes } = yield* setupStore
        yield* store.save(oneJob)
        yield* store.modifyRecord("jobs", "j", (found) => Effect.succeed([undefined, found] as const))
        yield* store.modifyRecord("jobs", "j", (found) => Effect.succeed([undefined, Option.map(found, (j) => ({ ...j }))] as const))
        yield* store.modifyRecord("jobs", "nobody", (found) => Effect.succeed([undefined, found] as const))
        yield* store.modifyRecord("jobs", "nobody", () => Effect.succeed([undefined, Option.none()] as const))
        expect(writes.length).toBe(1)
        // And the stored record is still read as the very one written.
        expect((yield* store.load).jobs["j"]).toEqual(job("j"))
      }))

    it.scoped("modifyRecord refuses a record the file cannot hold: InvalidState naming the field, nothing written", () =>
      Effect.gen(function*() {
        const { freshLoad, store, writes } = yield* setupStore
        yield* store.save(oneJob)
        const bad = { ...job("j"), createdAt: "yesterday" } as unknown as StateSchema.Job
        const error = yield* Effect.flip(store.modifyRecord("jobs", "j", () => Effect.succeed([undefined, Option.some(bad)] as const)))
        expect(error._tag).toBe("InvalidState")
        expect(error._tag === "InvalidState" && error.jsonPath).toBe(`jobs["j"].created_at`)
        const key = yield* Effect.flip(
          store.modifyRecord("jobs", "\ud800", () => Effect.succeed([undefined, Option.some(job("x"))] as const))
        )
        expect(key._tag === "InvalidState" && key.jsonPath).toBe(String.raw`jobs["\ud800"]`)
        yield* onlyTheSeedThenAWrite({ freshLoad, store, writes })
      }))

    it.scoped("modifyRecord: hostile addresses and results from plain JavaScript are refused, and write nothing", () =>
      Effect.gen(function*() {
        const { freshLoad, store, writes } = yield* setupStore
        yield* store.save(oneJob)
        const untyped = store.modifyRecord as unknown as (
          map: unknown,
          key: unknown,
          f: (found: unknown) => Effect.Effect<readonly [unknown, unknown]>
        ) => Effect.Effect<unknown, StateError>
        const put = () => Effect.succeed([undefined, Option.some(job("x"))] as const)
        for (const map of ["constructor", "__proto__", "unknownFields", 7]) {
          const error = yield* Effect.flip(untyped(map, "x", put))
          expect(error._tag === "InvalidState" && error.jsonPath, String(map)).toBe("$")
        }
        const error = yield* Effect.flip(untyped("jobs", 7, put))
        expect(error._tag === "InvalidState" && [error.jsonPath, error.expected]).toEqual(["jobs", "a string key"])
        // A bare record where an Option belongs would read as a removal: a defect instead.
        const bare = yield* Effect.exit(untyped("jobs", "j", (found) => Effect.succeed([undefined, Option.getOrThrow(found as Option.Option<unknown>)] as const)))
        expect(String(defectOf(bare))).toContain("Option")
        expect(writes.length).toBe(1)
        // A key that names an Object.prototype member is plain data.
        yield* store.modifyRecord("jobs", "__proto__", () => Effect.succeed([undefined, Option.some(job("__proto__"))] as const))
        expect(Object.keys((yield* store.load).jobs).sort()).toEqual(["__proto__", "j"])
        expect(Object.hasOwn((yield* freshLoad).jobs, "__proto__")).toBe(true)
        expect(yield* store.modifyRecord("jobs", "toString", (found) => Effect.succeed([found, found] as const))).toEqual(Option.none())
      }))

    it.scoped("record writes and whole-state writes of two stores, all at once: none is lost", () =>
      Effect.gen(function*() {
        const { freshLoad, other, store } = yield* setupStore
        yield* store.save(oneJob)
        const count = (j: StateSchema.Job) => (typeof j.unknownFields?.["n"] === "number" ? j.unknownFields["n"] : 0)
        const bump = (s: Store.StateStoreService) =>
          s.modifyRecord("jobs", "j", (found) =>
            Effect.succeed([undefined, Option.map(found, (j) => ({ ...j, unknownFields: { ...j.unknownFields, n: count(j) + 1 } }))] as const))
        yield* Effect.all(
          [
            ...Array.from({ length: 20 }, () => bump(store)),
            ...Array.from({ length: 20 }, () => bump(other)),
            ...Array.from({ length: 20 }, () => other.update(increment)),
            ...Array.from({ length: 5 }, () => store.load)
          ],
          { concurrency: "unbounded" }
        )
        for (const state of [yield* store.load, yield* other.load, yield* freshLoad]) {
          expect(count(state.jobs["j"]!)).toBe(40)
          expect(counter(state)).toBe(20)
        }
      }))

    it.scoped("modifyRecord interrupted while f runs, or while it waits for the lock: nothing written, the store usable", () =>
      Effect.gen(function*() {
        const { freshLoad, store, writes } = yield* setupStore
        yield* store.save(oneJob)
        const inside = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const holder = yield* store.modifyRecord("jobs", "j", (found) =>
          Effect.zipRight(
            Deferred.succeed(inside, undefined),
            Effect.as(Deferred.await(release), [undefined, Option.map(found, (j) => ({ ...j, agent: "held" }))] as const)
          )).pipe(Effect.fork)
        yield* Deferred.await(inside)
        const waiter = yield* Effect.fork(store.modifyRecord("jobs", "j", setStatus("failed")))
        yield* Effect.yieldNow()
        expect(Exit.isInterrupted(yield* Fiber.interrupt(waiter))).toBe(true)
        expect(Exit.isInterrupted(yield* Fiber.interrupt(holder))).toBe(true)
        yield* onlyTheSeedThenAWrite({ freshLoad, store, writes })
      }))

    it.scoped("modifyRecord: a failing f writes nothing and keeps its error type; a throwing f is a defect", () =>
      Effect.gen(function*() {
        const { store, writes } = yield* setupStore
        yield* store.save(oneJob)
        const exit = yield* Effect.exit(store.modifyRecord("jobs", "j", () => new NotToday({ reason: "closed" })))
        expect(exit).toEqual(Exit.fail(new NotToday({ reason: "closed" })))
        const bug = new Error("bug")
        const thrower = (): never => {
          throw bug
        }
        expect(defectOf(yield* Effect.exit(store.modifyRecord("jobs", "j", thrower)))).toBe(bug.message)
        expect(writes.length).toBe(1)
        expect((yield* store.load).jobs["j"]).toEqual(job("j"))
      }))

    it.scoped("changes: a record write is emitted like any other", () =>
      Effect.gen(function*() {
        const { store } = yield* setupStore
        yield* store.save(oneJob)
        const pull = yield* Stream.toPull(store.changes)
        expect(Chunk.toReadonlyArray(yield* pull).map((s) => s.jobs["j"]?.status)).toEqual(["active"])
        yield* store.modifyRecord("jobs", "j", setStatus("completed"))
        const seen: Array<string | undefined> = []
        while (seen.at(-1) !== "completed") seen.push(...Chunk.toReadonlyArray(yield* pull).map((s) => s.jobs["j"]?.status))
        expect(seen).toEqual(["completed"])
      }))
  })
