/**
 * The commands' uses of a PostgreSQL database (`--url`): reading its state,
 * and moving a state between a directory and a database (`export`,
 * `import`). This module loads `pg` (through `StorePg`); the binary imports
 * it only when `--url` is given, so the commands without it start as fast
 * as before.
 *
 * @since 0.3.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { describeConfig } from "../internal/storePg.js"
import * as Schema from "../Schema.js"
import type { StateIoError } from "../StateError.js"
import * as Store from "../Store.js"
import * as StorePg from "../StorePg.js"
import { CliFailure } from "./errors.js"
import * as Read from "./read.js"
import * as Source from "./source.js"

/**
 * How long one attempt to reach the server may take before it counts as
 * failed: a server that accepts connections and never answers is an error
 * within seconds (three attempts, see `retry`), not a hang.
 *
 * @since 0.3.0
 * @category constants
 */
export const connectTimeout: Duration.Duration = Duration.seconds(5)

/**
 * The CLI's policy for a refused or lost connection: two retries, 100 ms
 * then 200 ms apart. A person is waiting: an unreachable server is
 * reported within about 15 seconds at worst (three silent attempts).
 *
 * @since 0.3.0
 * @category constants
 */
export const retry: Schedule.Schedule<unknown, StateIoError> = Schedule.intersect(
  Schedule.exponential(Duration.millis(100)),
  Schedule.recurs(2)
)

const lockTimeoutOption = (seconds: Option.Option<number>) =>
  Option.match(seconds, { onNone: () => ({}), onSome: (s) => ({ lockTimeout: Duration.seconds(s) }) })

/**
 * `url` without its password, as errors and summaries name it.
 *
 * @since 0.3.0
 * @category rendering
 */
export const describe = (url: string): string => describeConfig({ url: Redacted.make(url) })

/**
 * The store on the database at `url`, with a small pool of its own (a
 * command runs one operation at a time). Fails with `StateIoError`
 * (password elided) when the server cannot be reached.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (url: string, lockTimeoutSeconds: Option.Option<number>): Layer.Layer<Store.StateStore, StateIoError> =>
  StorePg.layerUrl(url, {
    ...lockTimeoutOption(lockTimeoutSeconds),
    retry,
    client: { connectTimeout, maxConnections: 2, applicationName: "incrementum-state" }
  })

/**
 * The store on the database at `url`, in the scope (see `layer`).
 *
 * @since 0.3.0
 * @category constructors
 */
export const store = (url: string) =>
  Effect.map(Layer.build(layer(url, Option.none())), (ctx) => Context.get(ctx, Store.StateStore))

/**
 * The database's state. Fails with `StateIoError` (the server cannot be
 * reached) or `CorruptStateFile` (a row that does not decode).
 *
 * @since 0.3.0
 * @category reading
 */
export const readState = (url: string) =>
  Effect.scoped(Effect.flatMap(store(url), (s) => s.load))

const refuse = (what: string, held: Schema.State) =>
  new CliFailure({
    reason: `${what} already holds a state (${Source.summary(held)}); --force replaces it`
  })

/** `next`, unless `current` holds another non-empty state and `force` is off. */
const replacing = (what: string, next: Schema.State, force: boolean) => (current: Schema.State) =>
  !force && !Source.isEmpty(current) && Schema.encode(current) !== Schema.encode(next)
    ? Effect.fail(refuse(what, current))
    : Effect.succeed([undefined, next] as const)

/**
 * Options of `exportTo` and `importFrom`: the database, the state
 * directory (resolved and checked already), whether to replace a
 * different non-empty state, and how long to wait for the lock.
 *
 * @since 0.3.0
 * @category models
 */
export interface Transfer {
  readonly url: string
  readonly dir: string
  readonly force: boolean
  readonly lockTimeoutSeconds: Option.Option<number>
}

/**
 * Writes the database's state to `<dir>/state.json` through the file store:
 * under `state.lock`, as the Go tool writes it (temp file, fsync, rename),
 * so a running `ii` is not raced. Refuses, writing nothing, when the file
 * holds another non-empty state, unless `force`. Returns a one-line
 * summary. Fails with `CliFailure` (refused), `StateIoError`,
 * `CorruptStateFile` (the database's rows, or a corrupt `state.json`,
 * which is never overwritten) or `LockTimeout`.
 *
 * @since 0.3.0
 * @category transfer
 */
export const exportTo = (options: Transfer) =>
  Effect.gen(function*() {
    const state = yield* readState(options.url)
    const file = `${options.dir}/state.json`
    // A copy: the store writes nothing for the very state it holds, and an empty database's state is the
    // very empty state an absent file reads as; export must still write the file.
    yield* Effect.flatMap(Store.StateStore, (s) => s.modifyEffect(replacing(file, { ...state }, options.force))).pipe(
      Effect.provide(Store.layerNode({ dir: options.dir, ...lockTimeoutOption(options.lockTimeoutSeconds) }))
    )
    return `exported ${Source.summary(state)} from ${describe(options.url)} to ${file}`
  })

/**
 * Loads `<dir>/state.json` into the database, in one transaction under the
 * database's lock. The file is decoded first, without the lock and without
 * writing it: a corrupt file fails with `CorruptStateFile` before the
 * database is touched. Refuses, writing nothing, when the database holds
 * another non-empty state, unless `force` (then the database's state is the
 * file's: records the file lacks are deleted). Fails with `CliFailure` (no
 * file, or refused), `StateIoError`, `LockTimeout` or `InvalidState`.
 *
 * @since 0.3.0
 * @category transfer
 */
export const importFrom = (options: Transfer) =>
  Effect.gen(function*() {
    const { file, state } = yield* Read.readStateFile(Option.some(options.dir))
    if (Option.isNone(state)) {
      return yield* new CliFailure({ reason: `${file} does not exist: nothing to import` })
    }
    const where = describe(options.url)
    yield* Effect.flatMap(Store.StateStore, (s) => s.modifyEffect(replacing(where, state.value, options.force))).pipe(
      Effect.provide(layer(options.url, options.lockTimeoutSeconds))
    )
    return `imported ${Source.summary(state.value)} from ${file} to ${where}`
  })
