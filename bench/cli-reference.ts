/**
 * The reference the CLI's start-up is measured against for a large file:
 * the library's own cold load of `<dir>/state.json` in a fresh process,
 * bundled the way the CLI is (bench/cli-startup.ts bundles it), so that
 * the comparison is of the work done and not of how modules are loaded.
 *
 *   node cli-reference.bundle.js <dir>   prints the number of jobs
 */
import * as Effect from "effect/Effect"
import * as Store from "../src/Store.js"

const dir = process.argv[2]
if (dir === undefined) throw new Error("usage: cli-reference <dir>")

Effect.runPromise(Effect.flatMap(Store.StateStore, (store) => store.load).pipe(Effect.provide(Store.layerNode({ dir }))))
  .then((state) => console.log(Object.keys(state.jobs).length))
