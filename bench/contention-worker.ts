/**
 * One contention worker: N updates of the top-level "counter" of the state
 * in a directory, through the store or the floor, starting at an agreed
 * time. Prints when it started and finished (epoch ms); the parent checks
 * the final count.
 */
import * as Effect from "effect/Effect"
import * as Store from "../src/Store.js"
import { floorUpdate } from "./floor.js"

const [mode, dir, rounds, startAt] = process.argv.slice(2) as [string, string, string, string]
const n = Number(rounds)

// Every worker starts at the same moment, after all have loaded their code.
const now = () => performance.timeOrigin + performance.now()
while (now() < Number(startAt)) await new Promise((resolve) => setTimeout(resolve, 1))
const started = now()

if (mode === "floor") {
  for (let i = 0; i < n; i++) floorUpdate(dir, (state) => void (state.counter = (state.counter ?? 0) + 1))
} else {
  await Effect.runPromise(
    Effect.gen(function*() {
      const store = yield* Store.StateStore
      for (let i = 0; i < n; i++) {
        yield* store.update((state) => {
          const counter = state.unknownFields?.["counter"]
          return { ...state, unknownFields: { ...state.unknownFields, counter: (typeof counter === "number" ? counter : 0) + 1 } }
        })
      }
    }).pipe(Effect.provide(Store.layerNode({ dir, lockTimeout: "5 minutes" })))
  )
}

process.stdout.write(JSON.stringify({ started, finished: now() }) + "\n")
