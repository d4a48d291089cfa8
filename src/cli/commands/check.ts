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
import * as Read from "../read.js"

const count = (map: object) => Object.keys(map).length

/**
 * `check [--dir DIR]`: decodes the state file and prints a one-line
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
    ["incrementum-state check --dir ./backup", "a copy kept elsewhere"]
  ],
  command: Command.make(
    "check",
    { dir: CliOptions.dir },
    ({ dir }) =>
      Effect.gen(function*() {
        const { file, state } = yield* Read.readStateFile(dir)
        if (Option.isNone(state)) return yield* Console.log(`ok: ${file} does not exist (the empty state)`)
        const s = state.value
        yield* Console.log(
          `ok: ${file}: ${count(s.repos)} repos, ${count(s.workspaces)} workspaces, ${
            count(s.opencodeSessions)
          } sessions, ${count(s.jobs)} jobs`
        )
      })
  )
})
