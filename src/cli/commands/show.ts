/**
 * `incrementum-state show`: the overview.
 *
 * @since 0.2.0
 */
import * as Command from "@effect/cli/Command"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { UsageError } from "../errors.js"
import * as FieldOrder from "../fieldOrder.js"
import * as Filters from "../filters.js"
import * as Help from "../help.js"
import * as CliOptions from "../options.js"
import * as Render from "../render.js"
import * as Source from "../source.js"
import { CurrentStyle } from "../style.js"

/**
 * `show [--dir DIR | --url URL] [--json] [filters]`: repos, workspaces, sessions and
 * the jobs the filters select (active ones by default), or with `--json`
 * the whole state in the file's field order. Never writes.
 *
 * @since 0.2.0
 * @category commands
 */
export const spec = Help.make({
  summary: "repos, workspaces, sessions and active jobs, newest first; never writes",
  examples: [
    ["incrementum-state show", "what is going on: active jobs, the 20 newest"],
    ["incrementum-state show --repo . --since 1d", "the repo you are in: what changed in the last day"],
    ["incrementum-state show --status all --limit 0", "every job"],
    ["incrementum-state show --json", "the whole state as JSON, in the file's field order"],
    ["incrementum-state show --url postgres://db.internal/incrementum", "the state a PostgreSQL database holds"]
  ],
  command: Command.make(
    "show",
    {
      dir: CliOptions.dir,
      url: CliOptions.url,
      json: CliOptions.json("print the whole state as JSON (camelCase keys, RFC 3339 times, the file's field order)"),
      jobs: CliOptions.jobFilter
    },
    ({ dir, jobs, json, url }) =>
      Effect.gen(function*() {
        if (json && jobs.given) {
          return yield* new UsageError({
            command: "show",
            reason: "show --json prints the whole state and takes no filters; for a filtered list use jobs --json"
          })
        }
        const state = yield* Source.readState("show", { dir, url })
        const filter = yield* Filters.resolveRepo(state, jobs.filter)
        if (json) return yield* Console.log(JSON.stringify(FieldOrder.stateToOrderedJson(state), null, 2))
        const nowNanos = yield* Clock.currentTimeNanos
        yield* Console.log(Render.renderShow(state, { nowNanos, style: yield* CurrentStyle, filter }))
      })
  )
})
