/**
 * One contention worker: `warmup` untimed updates of the top-level "counter"
 * of the state in a directory, then, from an agreed start time, N timed
 * ones, through the store or the floor. Prints when the timed part started
 * and finished (epoch ms); the parent checks the final count.
 */
import * as Effect from "effect/Effect"
import * as Schema from "../src/Schema.js"
import * as Store from "../src/Store.js"
import { floorUpdate } from "./floor.js"

const [mode, dir, rounds, warmupRounds, startAt] = process.argv.slice(2) as [string, string, string, string, string]

const now = () => performance.timeOrigin + performance.now()

const increment = (state: Schema.State): Schema.State => {
  const counter = state.unknownFields?.["counter"]
  return { ...state, unknownFields: { ...state.unknownFields, counter: (typeof counter === "number" ? counter : 0) + 1 } }
}

const program = Effect.gen(function*() {
  const updates = mode === "floor"
    ? Effect.sync(() => floorUpdate(dir, (state) => void (state.counter = (state.counter ?? 0) + 1)))
    : Effect.flatMap(Store.StateStore, (store) => store.update(increment))
  // Warm up (JIT, first-write set-up) before the clock starts, so steady state is measured.
  yield* Effect.repeatN(updates, Number(warmupRounds) - 1)
  // Every worker starts at the same moment.
  while (now() < Number(startAt)) yield* Effect.sleep("1 millis")
  const started = now()
  yield* Effect.repeatN(updates, Number(rounds) - 1)
  return { started, finished: now() }
})

const result = await Effect.runPromise(program.pipe(Effect.provide(Store.layerNode({ dir, lockTimeout: "5 minutes" }))))
process.stdout.write(JSON.stringify(result) + "\n")
