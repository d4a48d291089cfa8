/**
 * `incrementum-state export` and `import`: moving the state between a
 * directory and a PostgreSQL database.
 *
 * @since 0.3.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Help from "../help.js"
import * as CliOptions from "../options.js"
import * as Read from "../read.js"
import * as Source from "../source.js"

const force = (what: string) => Options.boolean("force").pipe(Options.withDescription(what))

/**
 * `export --url URL [--dir DIR] [--force] [--lock-timeout SECONDS]`: writes
 * the database's state to `DIR/state.json` as the Go tool writes it,
 * through the file store (under `state.lock`, so a running `ii` is not
 * raced). Refuses (exit 1, nothing written) when the file holds another
 * non-empty state, unless `--force`; a corrupt file is never overwritten.
 *
 * @since 0.3.0
 * @category commands
 */
export const exportSpec = Help.make({
  summary: "write a PostgreSQL database's state to a directory's state.json, as the Go tool writes it",
  examples: [
    ["incrementum-state export --url postgres://db.internal/incrementum", "into the Go tool's state directory"],
    ["incrementum-state export --url postgres://db.internal/incrementum --dir ./backup", "a copy in ./backup"],
    ["incrementum-state export --url postgres://db.internal/incrementum --force", "replace the state file's state"]
  ],
  command: Command.make(
    "export",
    {
      url: CliOptions.requiredUrl("the database to read, postgres://user:password@host:port/database"),
      dir: CliOptions.dir,
      force: force("replace a state.json that holds another state (without it, export refuses and writes nothing)"),
      lockTimeout: CliOptions.lockTimeout
    },
    ({ dir, force, lockTimeout, url }) =>
      Effect.gen(function*() {
        const stateDir = yield* Read.stateDirectory(dir)
        const pg = yield* Source.pgModule
        yield* Console.log(yield* pg.exportTo({ url, dir: stateDir, force, lockTimeoutSeconds: lockTimeout }))
      })
  )
})

/**
 * `import --url URL [--dir DIR] [--force] [--lock-timeout SECONDS]`: loads
 * `DIR/state.json` into the database in one transaction. A corrupt file
 * fails before the database is touched; a database that holds another
 * non-empty state is refused (exit 1, nothing written) unless `--force`.
 *
 * @since 0.3.0
 * @category commands
 */
export const importSpec = Help.make({
  summary: "load a directory's state.json into a PostgreSQL database",
  examples: [
    ["incrementum-state import --url postgres://db.internal/incrementum", "the Go tool's state, into the database"],
    ["incrementum-state import --url postgres://db.internal/incrementum --dir ./backup", "the state in ./backup"],
    ["incrementum-state import --url postgres://db.internal/incrementum --force", "replace the database's state"]
  ],
  command: Command.make(
    "import",
    {
      url: CliOptions.requiredUrl("the database to load into, postgres://user:password@host:port/database"),
      dir: CliOptions.dir,
      force: force("replace the state of a database that holds one (without it, import refuses and writes nothing)"),
      lockTimeout: CliOptions.lockTimeout
    },
    ({ dir, force, lockTimeout, url }) =>
      Effect.gen(function*() {
        const stateDir = yield* Read.stateDirectory(dir)
        const pg = yield* Source.pgModule
        yield* Console.log(yield* pg.importFrom({ url, dir: stateDir, force, lockTimeoutSeconds: lockTimeout }))
      })
  )
})
