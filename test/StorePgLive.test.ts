/**
 * StorePg's `changes` across a lost LISTEN connection, and the purge of
 * deleted records' rows, on a real server (see StorePgServer.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Schema from "../src/Schema.js"
import * as Store from "../src/Store.js"
import * as StorePg from "../src/StorePg.js"
import { freshDatabase } from "./StorePgServer.js"

const counter = (state: Schema.State): number => {
  const value = state.unknownFields?.["counter"]
  return typeof value === "number" ? value : 0
}

/** A store at `url` whose lost connections are retried for up to about 30 seconds. */
const patientStore = (url: string, options: StorePg.Options = {}) =>
  Effect.gen(function*() {
    const ctx = yield* Layer.build(StorePg.layerUrl(url, {
      retry: Schedule.intersect(Schedule.spaced("100 millis"), Schedule.recurs(300)),
      ...options
    }))
    return { store: Context.get(ctx, Store.StateStore), sql: Context.get(ctx, SqlClient.SqlClient) }
  })

/** The counters `changes` emitted so far, kept up to date by a fiber of the scope. */
const recordChanges = (store: Store.StateStoreService) =>
  Effect.gen(function*() {
    const seen = yield* SubscriptionRef.make<ReadonlyArray<number>>([])
    yield* store.changes.pipe(
      Stream.runForEach((state) => SubscriptionRef.update(seen, (all) => [...all, counter(state)])),
      Effect.forkScoped
    )
    /** Waits (bounded: a failure, not a hang) until a counter satisfying `p` is emitted. */
    const waitFor = (p: (n: number) => boolean, what: string) =>
      seen.changes.pipe(
        Stream.takeUntil((all) => all.some(p)),
        Stream.runLast,
        Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error(`changes never emitted ${what}`) }),
        Effect.orDie
      )
    return { seen, waitFor }
  })

describe("StorePg changes", () => {
  it.live("a lost LISTEN connection is reopened, and the state re-read: a write whose notification was missed is seen", () =>
    Effect.gen(function*() {
      const url = yield* freshDatabase
      const { sql, store } = yield* patientStore(url)
      const { seen, waitFor } = yield* recordChanges(store)
      yield* waitFor((n) => n === 0, "the first state")
      // A write that notifies no one, as one committed while the connection was down would: the counter's
      // row written as the store writes it, and the version bumped.
      const top = Buffer.from(Schema.encode({ ...Schema.empty, unknownFields: { counter: 7 } }))
      yield* sql`UPDATE incrementum_state_version SET version = version + 1 WHERE id = 1`
      yield* sql`INSERT INTO incrementum_state_records (kind, key, body, version)
        VALUES ('$', '', ${top}, (SELECT version FROM incrementum_state_version WHERE id = 1))`
      yield* Effect.sleep("200 millis")
      expect(yield* SubscriptionRef.get(seen)).toEqual([0])
      const terminated = yield* sql<{ pid: number }>`
        SELECT pg_terminate_backend(pid) AS pid FROM pg_stat_activity
        WHERE application_name = 'incrementum-state listen' AND datname = current_database()`
      expect(terminated.length).toBe(1)
      yield* waitFor((n) => n === 7, "the missed write after the reconnect")
      // Listening again: another store's write arrives by notification.
      const { store: other } = yield* patientStore(url)
      yield* other.update((state) => ({ ...state, unknownFields: { ...state.unknownFields, counter: 8 } }))
      yield* waitFor((n) => n === 8, "a write after the reconnect")
      expect(yield* SubscriptionRef.get(seen)).toEqual([0, 7, 8])
    }).pipe(Effect.scoped))
})

describe("StorePg tombstones", () => {
  const withRepo = (name: string) => (state: Schema.State): Schema.State => ({
    ...state,
    repos: { ...state.repos, [name]: { sourcePath: `/src/${name}` } }
  })
  const withoutRepo = (name: string) => (state: Schema.State): Schema.State => {
    const { [name]: _, ...repos } = state.repos
    return { ...state, repos }
  }

  it.live("deleted records leave at most the last tombstoneVersions versions' rows, and a reader behind the purge reloads", () =>
    Effect.gen(function*() {
      const url = yield* freshDatabase
      const { sql, store } = yield* patientStore(url, { tombstoneVersions: 4 })
      const { store: reader } = yield* patientStore(url, { tombstoneVersions: 4 })
      yield* store.update(withRepo("kept"))
      yield* store.update(withRepo("gone"))
      expect(Object.keys((yield* reader.load).repos).sort()).toEqual(["gone", "kept"])
      // The reader's last version is now older than the tombstone of "gone", which is purged below.
      yield* store.update(withoutRepo("gone"))
      for (let i = 0; i < 30; i++) {
        yield* store.update(withRepo(`r${i}`))
        yield* store.update(withoutRepo(`r${i}`))
      }
      const [tombstones] = yield* sql<{ n: number }>`
        SELECT count(*)::int AS n FROM incrementum_state_records WHERE body IS NULL`
      // Without the purge: 31. With it: those of the last 4 versions, every other one a deletion.
      expect(tombstones!.n).toBeLessThanOrEqual(2)
      expect(Object.keys((yield* reader.load).repos)).toEqual(["kept"])
      expect(Object.keys((yield* store.load).repos)).toEqual(["kept"])
    }).pipe(Effect.scoped))
})
