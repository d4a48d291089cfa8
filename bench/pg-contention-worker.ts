/**
 * One PostgreSQL contention worker, run as a child process by `pg.ts`:
 *
 *   node build/bench/pg-contention-worker.js <url> <rounds> <warmup> <startAtEpochMs>
 *
 * The PostgreSQL twin of `contention-worker.ts`'s store branch: `warmup`
 * untimed increments of the top-level `COUNTER_KEY`, then, from the agreed
 * start time, `rounds` timed ones, each one `update` (one transaction under
 * the database's advisory lock). Prints one JSON line `{ started, finished }`.
 */
import * as Effect from "effect/Effect"
import type { State } from "../src/Schema.js"
import * as Store from "../src/Store.js"
import * as StorePg from "../src/StorePg.js"
import { COUNTER_KEY } from "./floor.js"

const [url, roundsArg, warmupArg, startAtArg] = process.argv.slice(2)
if (url === undefined) throw new Error("usage: pg-contention-worker.js <url> <rounds> <warmup> <startAtEpochMs>")
const rounds = Number(roundsArg ?? 100)
const warmup = Number(warmupArg ?? 0)
const startAt = Number(startAtArg ?? 0)
const now = () => performance.timeOrigin + performance.now()

const increment = (state: State): State => {
  const n = state.unknownFields?.[COUNTER_KEY]
  return { ...state, unknownFields: { ...state.unknownFields, [COUNTER_KEY]: (typeof n === "number" ? n : 0) + 1 } }
}

const program = Effect.gen(function*() {
  const store = yield* Store.StateStore
  for (let i = 0; i < warmup; i++) yield* store.update(increment)
  while (now() < startAt) yield* Effect.sleep("1 millis")
  const started = now()
  for (let i = 0; i < rounds; i++) yield* store.update(increment)
  return { started, finished: now() }
})

const result = await Effect.runPromise(
  program.pipe(Effect.provide(StorePg.layerUrl(url, { lockTimeout: "5 minutes", client: { maxConnections: 2 } })))
)
process.stdout.write(JSON.stringify(result) + "\n")
