/**
 * One contention worker, run as a child process by `run.ts`:
 *
 *   node build/bench/contention-worker.js <floor|store|pg> <dir or url> <rounds> <warmup> <startAtEpochMs> [privateWarmup]
 *
 * Does `warmup` untimed increments of the top-level `COUNTER_KEY` of
 * `<dir>/state.json` (JIT, first-write set-up), waits for the agreed start
 * time so every worker starts together, then does `rounds` timed ones.
 * Prints one JSON line `{ started, finished }` (epoch ms); the parent
 * derives updates/s from the spans and checks the final count is exact.
 *
 * The floor branch uses no Effect at all, so its figures carry no runtime
 * cost; the store branch imports the library lazily, so the floor runs even
 * where the store does not build.
 */
// Type-only: erased from the JS, so the floor branch runs without the library.
import type { State } from "../src/Schema.js"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { COUNTER_KEY, floorIncrement } from "./floor.js"

const [mode, dir, roundsArg, warmupArg, startAtArg, privateArg] = process.argv.slice(2)
if ((mode !== "floor" && mode !== "store" && mode !== "pg") || dir === undefined) {
  console.error("usage: contention-worker.js <floor|store|pg> <dir or url> <rounds> <warmup> <startAtEpochMs>")
  process.exit(2)
}
const rounds = Number(roundsArg ?? 100)
const warmup = Number(warmupArg ?? 0)
const startAt = Number(startAtArg ?? 0)
/**
 * Increments made first on a private copy of the state (another directory
 * or database, no contention), so that the timed loop runs the code the
 * JIT has optimised, as a long-running service does: at 30 warm-up updates
 * the store's loop was still partly unoptimised (one process: 713 to 889
 * updates/s against 1 079 to 1 690 after 1 000). The floor's work is
 * native JSON and system calls, which need no warming; it does the same.
 */
const privateWarmup = Number(privateArg ?? 0)

const now = () => performance.timeOrigin + performance.now()
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** FLOOR BRANCH: warm-up, the start barrier, then the timed synchronous increments. */
/** A directory of its own holding a copy of the shared state (file modes only). */
const privateCopy = () => {
  const own = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-contention-warmup-"))
  fs.copyFileSync(path.join(dir, "state.json"), path.join(own, "state.json"))
  return own
}

const floorRun = async () => {
  if (privateWarmup > 0) {
    const own = privateCopy()
    for (let i = 0; i < privateWarmup; i++) floorIncrement(own)
    fs.rmSync(own, { recursive: true, force: true })
  }
  for (let i = 0; i < warmup; i++) floorIncrement(dir)
  if (now() > startAt) console.error("contention-worker: warm-up ran past the agreed start")
  while (now() < startAt) await sleep(1)
  const started = now()
  for (let i = 0; i < rounds; i++) floorIncrement(dir)
  return { started, finished: now() }
}

/**
 * STORE BRANCH: the same increment through the library's store (an update
 * of an unknown top-level field, which the store keeps and re-encodes).
 * The loop runs inside one fiber, so no per-update runtime start-up is
 * charged to the store. Mode "pg" runs it through `StorePg` on the
 * database at the URL given in place of the directory (bench/pg.ts).
 */
const storeRun = async (): Promise<{ started: number; finished: number }> => {
  const [Effect, Store] = await Promise.all([import("effect/Effect"), import("../src/Store.js")])
  const increment = (state: State): State => {
    const n = state.unknownFields?.[COUNTER_KEY]
    return { ...state, unknownFields: { ...state.unknownFields, [COUNTER_KEY]: (typeof n === "number" ? n : 0) + 1 } }
  }
  const program = Effect.gen(function*() {
    const store = yield* Store.StateStore
    for (let i = 0; i < warmup; i++) yield* store.update(increment)
    if (now() > startAt) console.error("contention-worker: warm-up ran past the agreed start")
    while (now() < startAt) yield* Effect.sleep("1 millis")
    const started = now()
    for (let i = 0; i < rounds; i++) yield* store.update(increment)
    return { started, finished: now() }
  })
  const layer = mode === "pg"
    ? (await import("../src/StorePg.js")).layerUrl(dir, { lockTimeout: "5 minutes", client: { maxConnections: 2 } })
    : Store.layerNode({ dir, lockTimeout: "5 minutes" })
  if (privateWarmup > 0 && mode !== "pg") {
    const own = privateCopy()
    const warm = Effect.flatMap(Store.StateStore, (store) => Effect.repeatN(store.update(increment), privateWarmup - 1))
    await Effect.runPromise(warm.pipe(Effect.provide(Store.layerNode({ dir: own }))))
    fs.rmSync(own, { recursive: true, force: true })
  }
  return Effect.runPromise(program.pipe(Effect.provide(layer)))
}

const result = mode === "floor" ? await floorRun() : await storeRun()
process.stdout.write(JSON.stringify(result) + "\n")
