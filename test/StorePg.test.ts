/**
 * The PostgreSQL store on a real server (see StorePgServer.ts): the shared
 * contract, then what only a database can show.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as SqlClient from "@effect/sql/SqlClient"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Job from "../src/Job.js"
import * as Schema from "../src/Schema.js"
import * as Store from "../src/Store.js"
import * as Layer from "effect/Layer"
import * as StorePg from "../src/StorePg.js"
import * as Timestamp from "../src/Timestamp.js"
import { stateStoreContract } from "./contract/StateStoreContract.js"
import { strictWritesContract } from "./contract/StrictWritesContract.js"
import { clientLayer, freshDatabase } from "./StorePgServer.js"

const pgBackend = Effect.gen(function*() {
  const url = yield* freshDatabase
  const ctx = yield* Layer.build(clientLayer(url))
  return yield* StorePg.makeBackend().pipe(Effect.provide(ctx))
}).pipe(Effect.orDie)

// Backend.watch LISTENs: `changes` reports the other store's writes too.
stateStoreContract("PostgreSQL backend", pgBackend, { watches: true })
strictWritesContract("PostgreSQL backend", pgBackend)

describe("StorePg connections", () => {
  it.live("a server that refuses connections is a typed StateIoError after the caller's retries, without the password", () =>
    Effect.gen(function*() {
      let attempts = 0
      const layer = StorePg.layerUrl("postgres://someone:secret@127.0.0.1:1/none", {
        retry: Schedule.recurs(2).pipe(Schedule.tapInput(() => Effect.sync(() => attempts++)))
      })
      const error = yield* Effect.flip(Effect.scoped(Layer.build(layer)))
      expect(error._tag).toBe("StateIoError")
      expect(error.message).not.toContain("secret")
      expect(attempts).toBe(3)
    }))
})

describe("StorePg storage", () => {
  const golden = fs.readFileSync(path.join(import.meta.dirname, "fixtures", "golden", "full_realistic.input.json"))
  const goldenState = Schema.decodeEither(golden).pipe((e) => e._tag === "Right" ? e.right : expect.fail("golden fixture"))

  it.scoped("a state saved by one store reads back in another as the Go tool's exact bytes, and an update writes only the record it changed", () =>
    Effect.gen(function*() {
      const url = yield* freshDatabase
      const ctx = yield* Layer.build(StorePg.layerUrl(url))
      const writer = yield* Effect.provide(Store.StateStore, ctx)
      yield* writer.save(goldenState)
      const other = yield* Effect.provide(Store.StateStore, yield* Layer.build(StorePg.layerUrl(url)))
      const loaded = yield* other.load
      expect(Schema.encode(loaded)).toBe(Schema.encode(goldenState))
      const sql = yield* Effect.provide(SqlClient.SqlClient, ctx)
      const [before] = yield* sql<{ rows: string }>`SELECT count(*)::text AS rows FROM incrementum_state_records`
      const repo = Object.keys(loaded.repos)[0]!
      yield* other.update((s) => ({ ...s, repos: { ...s.repos, [repo]: { sourcePath: "/moved" } } }))
      const changed = yield* sql<{ kind: string; key: string }>`
        SELECT kind, key FROM incrementum_state_records
        WHERE version = (SELECT version FROM incrementum_state_version WHERE id = 1)`
      expect(changed).toEqual([{ kind: "repos", key: repo }])
      const [after] = yield* sql<{ rows: string }>`SELECT count(*)::text AS rows FROM incrementum_state_records`
      expect(after).toEqual(before)
      expect((yield* writer.load).repos[repo]).toEqual({ sourcePath: "/moved" })
    }))

  it.scoped("an update that removes one record and adds another (the same count) deletes the one and writes the other", () =>
    Effect.gen(function*() {
      const url = yield* freshDatabase
      const writer = yield* Effect.provide(Store.StateStore, yield* Layer.build(StorePg.layerUrl(url)))
      yield* writer.save(goldenState)
      const loaded = yield* writer.load
      const [gone, ...kept] = Object.keys(loaded.repos)
      yield* writer.update((s) => ({
        ...s,
        repos: { ...Object.fromEntries(kept.map((name) => [name, s.repos[name]!])), added: { sourcePath: "/added" } }
      }))
      const other = yield* Effect.provide(Store.StateStore, yield* Layer.build(StorePg.layerUrl(url)))
      expect(Object.keys((yield* other.load).repos).sort()).toEqual([...kept, "added"].sort())
      expect(gone).toBeDefined()
    }))

  it.scoped("record writes (Job.update, modifyRecord) write their rows alone, and another store reads the writer's exact state", () =>
    Effect.gen(function*() {
      const url = yield* freshDatabase
      const ctx = yield* Layer.build(StorePg.layerUrl(url))
      const writer = yield* Effect.provide(Store.StateStore, ctx)
      const sql = yield* Effect.provide(SqlClient.SqlClient, ctx)
      yield* writer.save(goldenState)
      const [id] = Object.keys(goldenState.jobs)
      yield* Job.update(id!, Job.setStatus("completed", Timestamp.zero)).pipe(Effect.provide(ctx))
      const changed = yield* sql<{ kind: string; key: string }>`
        SELECT kind, key FROM incrementum_state_records
        WHERE version = (SELECT version FROM incrementum_state_version WHERE id = 1)`
      expect(changed).toEqual([{ kind: "jobs", key: id }])
      // Puts, replacements and removals, more than a snapshot keeps pending, with no load between them.
      const [gone] = Object.keys(goldenState.repos)
      yield* writer.modifyRecord("repos", gone!, () => Effect.succeed([undefined, Option.none()] as const))
      for (let i = 0; i < 40; i++) {
        yield* writer.modifyRecord("repos", `r${i % 25}`, () =>
          Effect.succeed([undefined, Option.some({ sourcePath: `/src/${i}` })] as const))
      }
      const other = yield* Effect.provide(Store.StateStore, yield* Layer.build(StorePg.layerUrl(url)))
      const written = yield* writer.load
      expect(written.jobs[id!]?.status).toBe("completed")
      expect(written.repos[gone!]).toBeUndefined()
      expect(written.repos["r3"]).toEqual({ sourcePath: "/src/28" })
      expect(Schema.encode(yield* other.load)).toBe(Schema.encode(written))
      // And the other way: the second store's record write reaches the first.
      yield* other.modifyRecord("repos", "r0", () => Effect.succeed([undefined, Option.some({ sourcePath: "/other" })] as const))
      expect((yield* writer.load).repos["r0"]).toEqual({ sourcePath: "/other" })
    }))

  it.live("lock waits interrupted over and over give their connections back: a pool of two still serves the next update", () =>
    Effect.gen(function*() {
      const url = yield* freshDatabase
      const holder = yield* Effect.provide(Store.StateStore, yield* Layer.build(StorePg.layerUrl(url)))
      const waiter = yield* Effect.provide(
        Store.StateStore,
        yield* Layer.build(StorePg.layerUrl(url, { client: { maxConnections: 2 }, lockTimeout: "1 minute" }))
      )
      const inside = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const held = yield* holder.modifyEffect((state) =>
        Effect.zipRight(Deferred.succeed(inside, undefined), Effect.as(Deferred.await(release), [undefined, state] as const))
      ).pipe(Effect.fork)
      yield* Deferred.await(inside)
      // Interrupted at assorted points of the wait: taking a connection, BEGIN, the lock's query.
      for (let i = 0; i < 30; i++) {
        const update = waiter.update(Job.put(Job.make({ id: `j${i}`, repo: "r", todoId: "t" })))
        const exit = yield* Effect.exit(Effect.timeout(update, `${1 + (i % 10) * 3} millis`))
        expect(Exit.isFailure(exit)).toBe(true)
      }
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(held)
      // Two connections were all the waiter had: one leaked per interruption would leave none.
      yield* waiter.update(Job.put(Job.make({ id: "last", repo: "r", todoId: "t" }))).pipe(Effect.timeout("20 seconds"))
      expect(Object.keys((yield* holder.load).jobs)).toEqual(["last"])
    }).pipe(Effect.scoped), 60_000)
})
