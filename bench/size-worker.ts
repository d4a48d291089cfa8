/**
 * STORE FIGURES. Measures the store's figures for one state size in a
 * fresh process and prints them as one JSON line:
 *
 *   node build/bench/size-worker.js <figures|rss> <jobs> <runs> <source.json> <variant.json>
 *
 * Same arguments, same workloads and same timing loop as `floor-worker.ts`,
 * so `run.ts` reports each figure as a ratio to the floor's. Mode "rss"
 * only loads and updates through the store, so its peak RSS is the store's
 * alone.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Schema from "../src/Schema.js"
import * as Store from "../src/Store.js"
import * as Timestamp from "../src/Timestamp.js"
import { jobId } from "./generate.js"
import { floorNoopUpdate, floorRead, floorUpdate } from "./floor.js"
import { type Figure, loopWatch, otherWriter, parseSizeArgs, peakRssBytes, setWarmup, summarize, timeAsync, timePaired, timeSync } from "./measure.js"

const { jobs, mode, runs, source, variant } = parseSizeArgs(process.argv.slice(2))
// A small state's runs are short: warm the JIT as a long-running service would be (see `setWarmup`).
if (jobs <= 100) setWarmup(500)

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-bench-store-"))
const file = path.join(dir, "state.json")
// Both versions of the file are made by the parent, so making them does not count in this process's peak RSS.
const fileBytes = fs.statSync(source).size
fs.copyFileSync(source, file)
const replace = otherWriter(file, source, variant)
// The floor's copy, for the figures timed alternately with the store's.
const floorDir = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-bench-paired-floor-"))
fs.copyFileSync(source, path.join(floorDir, "state.json"))
const replaceFloor = otherWriter(path.join(floorDir, "state.json"), source, variant)
/** A new time per run for the floor's update, as `floor-worker.ts` makes them. */
const floorStamp = (i: number) => `2027-01-01T00:00:00.${String(i + 1_000_000).padStart(9, "0")}Z`
const setUpdatedAt = (i: number) => (state: any) => void (state.jobs[idAt(i)].updated_at = floorStamp(i))

const stamp = (i: number): Timestamp.Timestamp =>
  Timestamp.fromEpochNanos(1_800_000_000_000_000_000n + BigInt(i + 1000) * 1000n).pipe((o) => (o._tag === "Some" ? o.value : Timestamp.zero))

/** A different job for each run, warm-up runs (negative i) included, as the floor's figures use. */
const idAt = (i: number) => jobId(((i % jobs) + jobs) % jobs)

const main = Effect.gen(function*() {
  const store = yield* Store.StateStore
  const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
  const oneField = (i: number) =>
    store.update((state) => {
      const id = idAt(i)
      return { ...state, jobs: { ...state.jobs, [id]: { ...state.jobs[id]!, updatedAt: stamp(i) } } }
    })

  if (mode === "rss") {
    yield* store.load
    for (let i = 0; i < runs; i++) yield* oneField(i)
    for (let i = 0; i < runs; i++) {
      replace()
      yield* store.load
    }
    return { maxRssBytes: peakRssBytes(), fileBytes }
  }

  const figures: Record<string, Figure> = {}
  const few = Math.max(3, Math.floor(runs / 3))
  const many = runs * 10

  const text = fs.readFileSync(source, "utf8")
  // Codec alone (floor: JSON.parse / JSON.stringify in floor-worker).
  figures.decode = timeSync(runs, () => void Either.getOrThrow(Schema.decodeEither(text)))
  const fresh: Array<Schema.State> = []
  figures.encode = timeSync(runs, () => void Schema.encode(fresh.pop()!), {
    before: () => void fresh.push(Either.getOrThrow(Schema.decodeEither(text)))
  })

  // Store operations, each alternated run by run with the floor's counterpart (floorRead, floorNoopUpdate,
  // floorUpdate) on a directory of its own, so that the ratio compares runs made under the same conditions.
  const paired = (name: string, floorName: string, measured: { readonly store: Figure; readonly floor: Figure }) => {
    figures[name] = measured.store
    figures[floorName] = measured.floor
  }
  paired(
    "coldLoad",
    "pairedFloorColdLoad",
    yield* Effect.promise(() =>
      timePaired(runs, { run: () => run(store.load), before: replace }, { run: () => void floorRead(floorDir), before: replaceFloor })
    )
  )
  figures.warmLoad = yield* Effect.promise(() => timeAsync(many, () => run(store.load)))
  paired(
    "noopUpdate",
    "pairedFloorNoopUpdate",
    yield* Effect.promise(() =>
      timePaired(many, { run: () => run(store.update((s) => s)) }, { run: () => floorNoopUpdate(floorDir) })
    )
  )
  yield* oneField(-1)
  paired(
    "oneFieldUpdate",
    "pairedFloorUpdate",
    yield* Effect.promise(() =>
      timePaired(few, { run: (i) => run(oneField(i)) }, { run: (i) => floorUpdate(floorDir, setUpdatedAt(i)) })
    )
  )
  // The same update again, each watched by a 1 ms timer: the longest gap between its ticks is how long
  // the event loop could not run anything else (other fibers, sockets, timers) during the update.
  const stalls: Array<number> = []
  yield* Effect.promise(() =>
    timeAsync(few, async (i) => {
      const watch = loopWatch()
      // Times no earlier run wrote, so every one of these updates writes.
      await run(oneField(few + 100 + i))
      const stall = watch.stop()
      if (i >= 0) stalls.push(stall)
    })
  )
  figures.updateLoopStall = summarize(stalls)
  figures.updateLoopStallMax = summarize([Math.max(...stalls)])
  const current = yield* store.load
  figures.saveUnchanged = yield* Effect.promise(() => timeAsync(many, () => run(store.save(current))))
  return { figures, fileBytes }
})

const result = await Effect.runPromise(main.pipe(Effect.provide(Store.layerNode({ dir }))))
fs.rmSync(dir, { recursive: true, force: true })
fs.rmSync(floorDir, { recursive: true, force: true })
process.stdout.write(JSON.stringify(result) + "\n")
