/**
 * Where a command finds the state: a directory (`--dir`, the default) or a
 * PostgreSQL database (`--url`). The database's module, which loads `pg`,
 * is imported only when `--url` is given.
 *
 * @since 0.3.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "../Schema.js"
import { UsageError } from "./errors.js"
import * as Read from "./read.js"

/**
 * The `pg` module (`./pg.js`), imported on first use.
 *
 * @since 0.3.0
 * @category database
 */
export const pgModule: Effect.Effect<typeof import("./pg.js")> = Effect.promise(() => import("./pg.js"))

/**
 * What a command was told about where the state is.
 *
 * @since 0.3.0
 * @category models
 */
export interface Where {
  readonly dir: Option.Option<string>
  readonly url: Option.Option<string>
}

/**
 * The database's URL when `--url` was given, failing with `UsageError` when
 * `--dir` was given too: the two name two different states.
 *
 * @since 0.3.0
 * @category parsing
 */
export const urlOf = (command: string, where: Where): Effect.Effect<Option.Option<string>, UsageError> =>
  Option.isSome(where.url) && Option.isSome(where.dir)
    ? Effect.fail(
      new UsageError({ command, reason: "--dir and --url name two different states: give one or the other" })
    )
    : Effect.succeed(where.url)

/**
 * The state and where it came from (the file, or the database's URL
 * without its password); `state` is `None` when the file does not exist.
 * A directory is read as `Read.readStateFile` reads it (no lock, no
 * write); a database through `StorePg`'s `load`. Fails with `UsageError`
 * (`--dir` and `--url` both), `CliFailure`, `StateIoError` and
 * `CorruptStateFile`.
 *
 * @since 0.3.0
 * @category reading
 */
export const read = Effect.fn("Cli.read")(function*(command: string, where: Where) {
  const url = yield* urlOf(command, where)
  if (Option.isNone(url)) {
    const { file, state } = yield* Read.readStateFile(where.dir)
    return { source: file, state }
  }
  const pg = yield* pgModule
  return { source: pg.describe(url.value), state: Option.some(yield* pg.readState(url.value)) }
})

/**
 * `read`'s state, the empty state when the file does not exist.
 *
 * @since 0.3.0
 * @category reading
 */
export const readState = (command: string, where: Where) =>
  Effect.map(read(command, where), ({ state }) => Option.getOrElse(state, () => Schema.empty))

/**
 * Whether `state` holds nothing: no record and no unknown top-level field.
 *
 * @since 0.3.0
 * @category models
 */
export const isEmpty = (state: Schema.State): boolean =>
  [state.unknownFields ?? {}, state.repos, state.workspaces, state.opencodeSessions, state.jobs].every(
    (map) => Object.keys(map).length === 0
  )

/**
 * `3 repos, 5 workspaces, 6 sessions, 6 jobs`.
 *
 * @since 0.3.0
 * @category rendering
 */
export const summary = (state: Schema.State): string => {
  const count = (map: object) => Object.keys(map).length
  return `${count(state.repos)} repos, ${count(state.workspaces)} workspaces, ${
    count(state.opencodeSessions)
  } sessions, ${count(state.jobs)} jobs`
}
