/**
 * PostgreSQL store figures beside the file store's, for one state, in one
 * fresh process; prints one JSON line:
 *
 *   node build/bench/pg-worker.js <url> <runs> <source.json>
 *
 * `url` is an empty database. Both stores are seeded with the same state
 * (untimed), then timed by the same loop (`measure.ts`) on the same
 * operations:
 *
 * - `oneFieldUpdate`: `Job.update` changing one job's `updated_at` (a
 *   record write: `StateStore.modifyRecord`);
 * - `oneFieldUpdateWhole`: the same change through `update(f)`, where the
 *   caller's `f` copies the jobs map and the store compares the states;
 * - `warmLoad`: `load` of a state nobody changed;
 * - `loadAfterOtherWrite`: `load` after another store (another pool; for
 *   the file, another store instance) changed one job: what a reader pays
 *   to catch up with one write;
 *
 * and, as `floor`, what bounds the database's figures (see `floorOf`).
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Job from "../src/Job.js"
import * as Schema from "../src/Schema.js"
import * as Store from "../src/Store.js"
import * as StorePg from "../src/StorePg.js"
import * as Timestamp from "../src/Timestamp.js"
import { jobId } from "./generate.js"
import { type Figure, summarize, timeAsync } from "./measure.js"

const [url, runsArg, source] = process.argv.slice(2)
if (url === undefined || source === undefined) throw new Error("usage: pg-worker.js <url> <runs> <source.json>")
const runs = Number(runsArg ?? 50)
const state = Either.getOrThrow(Schema.decodeEither(fs.readFileSync(source)))
const jobs = Object.keys(state.jobs).length

const stamp = (i: number): Timestamp.Timestamp =>
  Timestamp.fromEpochNanos(1_800_000_000_000_000_000n + BigInt(i + 1000) * 1000n).pipe((o) =>
    o._tag === "Some" ? o.value : Timestamp.zero
  )
/** A different job each run, warm-up runs (negative i) included. */
const idAt = (i: number) => jobId(((i % jobs) + jobs) % jobs)
/** The change as one record's update. */
const oneJob = (i: number) => Job.update(idAt(i), (job) => ({ ...job, updatedAt: stamp(i) }))
/** The same change as a whole state's update. */
const oneField = (i: number) => (s: Schema.State): Schema.State => {
  const id = idAt(i)
  return { ...s, jobs: { ...s.jobs, [id]: { ...s.jobs[id]!, updatedAt: stamp(i) } } }
}

/** `timeAsync` with an asynchronous untimed step before each run (another store's write). */
const timeAfter = async (count: number, before: (i: number) => Promise<unknown>, f: () => Promise<unknown>) => {
  const timings: Array<number> = []
  for (let i = -Math.min(5, count); i < count; i++) {
    await before(i)
    const start = process.hrtime.bigint()
    await f()
    if (i >= 0) timings.push(Number(process.hrtime.bigint() - start) / 1e6)
  }
  return summarize(timings)
}

/**
 * The figures of one kind of store: each run of `open` builds a separate
 * store, in the scope. The updates run `scale` times as often (timed and
 * warm-up alike) where an update is cheap enough: at 20 runs after 20
 * warm-ups the database store's update was timed half-optimised (3.1 ms
 * median at 300 runs against 2.0 ms at 1 500, on a 10-job state; the file
 * store's 73 MB update costs the same after any warm-up, and 200 ms a run).
 */
const figuresOf = <E>(open: Effect.Effect<Store.StateStoreService, E, Scope.Scope>, scale: number) =>
  Effect.scoped(Effect.gen(function*() {
    const store = yield* open
    const other = yield* open
    const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
    yield* store.save(state)
    yield* store.load
    yield* other.load
    const figures: Record<string, Figure> = {}
    const onStore = (s: Store.StateStoreService) => Effect.provideService(Store.StateStore, s)
    const updates = { runs: runs * scale, warmup: Math.min(50, runs) * scale }
    figures.oneFieldUpdate = yield* Effect.promise(() =>
      timeAsync(updates.runs, (i) => run(onStore(store)(oneJob(i))), updates)
    )
    yield* store.load
    figures.oneFieldUpdateWhole = yield* Effect.promise(() =>
      timeAsync(updates.runs, (i) => run(store.update(oneField(updates.runs + i))), updates)
    )
    yield* store.load
    figures.warmLoad = yield* Effect.promise(() => timeAsync(runs * 10, () => run(store.load)))
    figures.loadAfterOtherWrite = yield* Effect.promise(() =>
      timeAfter(runs, (i) => run(onStore(other)(oneJob(2 * updates.runs + i))), () => run(store.load))
    )
    return figures
  }))

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-bench-pg-file-"))
const fileStore = Effect.gen(function*() {
  const ctx = yield* Layer.build(Store.layerNode({ dir }))
  return Context.get(ctx, Store.StateStore)
})
const pgStore = Effect.gen(function*() {
  const ctx = yield* Layer.build(StorePg.layerUrl(url, { client: { maxConnections: 2 } }))
  return Context.get(ctx, Store.StateStore)
})

/**
 * What bounds the database's figures, on the same connection settings: one
 * round trip (`SELECT 1`), one committed one-row update (a round trip and the
 * WAL fsync of the commit), and that update in a transaction holding the
 * advisory lock, as the store's writes are (four round trips and the fsync).
 */
const floorOf = Effect.scoped(Effect.gen(function*() {
  const ctx = yield* Layer.build(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))
  const sql = Context.get(ctx, PgClient.PgClient)
  const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
  yield* sql`CREATE TABLE IF NOT EXISTS bench_floor (id int PRIMARY KEY, n bigint NOT NULL)`
  yield* sql`INSERT INTO bench_floor VALUES (1, 0) ON CONFLICT DO NOTHING`
  const update = sql`UPDATE bench_floor SET n = n + 1 WHERE id = 1`
  const figures: Record<string, Figure> = {}
  figures.roundTrip = yield* Effect.promise(() => timeAsync(runs * 10, () => run(sql`SELECT 1`)))
  figures.commit = yield* Effect.promise(() => timeAsync(runs * 10, () => run(update)))
  figures.lockedCommit = yield* Effect.promise(() =>
    timeAsync(runs * 10, () => run(sql.withTransaction(Effect.zipRight(sql`SELECT pg_advisory_xact_lock(42)`, update))))
  )
  yield* sql`DROP TABLE bench_floor`
  return figures
}))

const result = await Effect.runPromise(
  Effect.all({ floor: floorOf, pg: figuresOf(pgStore, 10), file: figuresOf(fileStore, 1) })
)
fs.rmSync(dir, { recursive: true, force: true })
process.stdout.write(JSON.stringify({ jobs, runs, ...result }) + "\n")
