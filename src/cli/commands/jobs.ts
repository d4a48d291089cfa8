/**
 * `incrementum-state jobs`: one line per job.
 *
 * @since 0.2.0
 */
import * as Command from "@effect/cli/Command"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as FieldOrder from "../fieldOrder.js"
import * as Filters from "../filters.js"
import * as Help from "../help.js"
import * as CliOptions from "../options.js"
import * as Render from "../render.js"
import * as Source from "../source.js"
import { CurrentStyle } from "../style.js"

/**
 * `jobs [--dir DIR | --url URL] [--json] [filters]`: the jobs the filters select
 * (active ones by default), newest first, one line each with the unique
 * prefix of each id highlighted, as `ii job list` does; `--json` prints
 * them as a JSON array in the file's field order. Never writes.
 *
 * @since 0.2.0
 * @category commands
 */
export const spec = Help.make({
  summary: "one line per job (age, id, stage, status, repo, todo), active ones by default; never writes",
  examples: [
    ["incrementum-state jobs", "active jobs, newest first"],
    ["incrementum-state jobs --status failed,abandoned --since 7d", "what went wrong this week"],
    ["incrementum-state jobs --stage reviewing --repo users-amonks-code-website", "one repo's jobs under review"],
    ["incrementum-state jobs --all --json", "every job as JSON"]
  ],
  command: Command.make(
    "jobs",
    {
      dir: CliOptions.dir,
      url: CliOptions.url,
      json: CliOptions.json("print the listed jobs as a JSON array (the file's field order) instead of a table"),
      jobs: CliOptions.jobFilter
    },
    ({ dir, jobs, json, url }) =>
      Effect.gen(function*() {
        const state = yield* Source.readState("jobs", { dir, url })
        const filter = yield* Filters.resolveRepo(state, jobs.filter)
        const nowNanos = yield* Clock.currentTimeNanos
        if (json) {
          const { shown } = Filters.selectJobs(state, filter, nowNanos)
          return yield* Console.log(JSON.stringify(shown.map(([, job]) => FieldOrder.jobToOrderedJson(job)), null, 2))
        }
        yield* Console.log(Render.renderJobs(state, { nowNanos, style: yield* CurrentStyle, filter }))
      })
  )
})
