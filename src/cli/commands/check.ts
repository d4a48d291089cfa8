/**
 * `incrementum-state check`: is the file valid?
 *
 * @since 0.2.0
 */
import * as Command from "@effect/cli/Command"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Help from "../help.js"
import * as CliOptions from "../options.js"
import * as Source from "../source.js"

/**
 * `check [--dir DIR | --url URL]`: decodes the state file (or reads the database) and prints a one-line
 * summary, or fails (exit 1) with where the file is corrupt. An absent
 * file is valid: it is the empty state. Never writes, not even to drop
 * legacy prompts.
 *
 * @since 0.2.0
 * @category commands
 */
export const spec = Help.make({
  summary: "validate the state file and count its records; never writes",
  examples: [
    ["incrementum-state check", "the default state file"],
    ["incrementum-state check --dir ./backup", "a copy kept elsewhere"],
    ["incrementum-state check --url postgres://db.internal/incrementum", "the state a PostgreSQL database holds"]
  ],
  command: Command.make(
    "check",
    { dir: CliOptions.dir, url: CliOptions.url },
    ({ dir, url }) =>
      Effect.gen(function*() {
        const { source, state } = yield* Source.read("check", { dir, url })
        if (Option.isNone(state)) return yield* Console.log(`ok: ${source} does not exist (the empty state)`)
        yield* Console.log(`ok: ${source}: ${Source.summary(state.value)}`)
      })
  )
})
