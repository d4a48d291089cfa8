/**
 * Loads `storeOps` on first use, and lets the binary's exit ask about
 * parked flock calls without loading it when no command did.
 *
 * @since 0.2.0
 */
import * as Path from "@effect/platform/Path"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Read from "./read.js"
import * as Source from "./source.js"
import type { StoreLayer } from "./storeOps.js"

type StoreOps = typeof import("./storeOps.js")

let loaded: StoreOps | undefined

/**
 * The `storeOps` module, imported on first use.
 *
 * @since 0.2.0
 * @category store
 */
export const storeOps: Effect.Effect<StoreOps> = Effect.promise(() => import("./storeOps.js")).pipe(
  Effect.tap((module) => {
    loaded = module
  })
)

/**
 * Before the process exits with `code`: if a lock wait that timed out
 * left a flock call parked on a pool thread, Node's exit would wait for
 * that thread until the lock is granted, so leave at once instead (see
 * `Lock.exitImmediately`). Returns when there is none.
 *
 * @since 0.2.0
 * @category process
 */
export const exitNowIfParked = (code: number): void => {
  if (loaded !== undefined && loaded.parkedCalls() > 0) loaded.exitImmediately(code)
}

/**
 * What `repo-name` and `repo-for` share: the path argument resolved
 * against the working directory (made absolute and cleaned, as Go's
 * `filepath.Abs` does; symlinks are not followed), the store opened (the
 * database at `--url`, or the file store in the state directory, checked
 * as `read.stateDirectory` does), and what `use` returns printed on its
 * own line. `--dir` and `--url` together are a `UsageError`.
 *
 * @since 0.2.0
 * @category store
 */
export const printFromStore = <E>(
  command: string,
  args: Source.Where & { readonly lockTimeout: Option.Option<number>; readonly path: string },
  use: (ops: StoreOps, layer: StoreLayer, path: string) => Effect.Effect<string, E>
) =>
  Effect.gen(function*() {
    const path = (yield* Path.Path).resolve(args.path)
    const url = yield* Source.urlOf(command, args)
    const layer = Option.isSome(url)
      ? (yield* Source.pgModule).layer(url.value, args.lockTimeout)
      : undefined
    const dir = layer === undefined ? yield* Read.stateDirectory(args.dir) : ""
    const ops = yield* storeOps
    yield* Console.log(
      yield* use(ops, layer ?? ops.fileLayer({ dir, lockTimeoutSeconds: args.lockTimeout }), path)
    )
  })
