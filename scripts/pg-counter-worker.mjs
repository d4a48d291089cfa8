// A writer of the state's top-level "counter" through the built StorePg, for the cross-process tests.
//
//   node scripts/pg-counter-worker.mjs <url> <rounds> [hold]
//
// Prints "ready" once the store is built and "ack <value>" after each update is committed
// (0 rounds = until killed). With "hold", after its rounds it starts one more update and, inside
// it (the transaction open, the lock held), prints "holding <value>" and waits to be killed.
// On a store error it prints the error to stderr and exits 1.
import { Effect } from "effect"
import { Store } from "../dist/index.js"
import * as StorePg from "../dist/StorePg.js"

const [url, rounds = "0", hold] = process.argv.slice(2)
const n = Number(rounds)
const counterOf = (state) => {
  const value = state.unknownFields?.counter
  return typeof value === "number" ? value : 0
}

const program = Effect.gen(function*() {
  const store = yield* Store.StateStore
  process.stdout.write("ready\n")
  for (let i = 0; n === 0 || i < n; i++) {
    const value = yield* store.modify((state) => {
      const next = counterOf(state) + 1
      return [next, { ...state, unknownFields: { ...state.unknownFields, counter: next } }]
    })
    process.stdout.write(`ack ${value}\n`)
  }
  if (hold === "hold") {
    yield* store.modifyEffect((state) =>
      Effect.sync(() => process.stdout.write(`holding ${counterOf(state) + 1}\n`)).pipe(Effect.zipRight(Effect.never))
    )
  }
})

Effect.runPromise(program.pipe(Effect.provide(StorePg.layerUrl(url, { lockTimeout: "60 seconds" })))).then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error?._tag ?? "Error"}: ${error?.message ?? String(error)}\n`)
    process.exit(1)
  }
)
