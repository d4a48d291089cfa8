/**
 * `incrementum-state job`: one job in full.
 *
 * @since 0.2.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as Schema from "../../Schema.js"
import { CliFailure } from "../errors.js"
import * as FieldOrder from "../fieldOrder.js"
import * as Help from "../help.js"
import * as CliOptions from "../options.js"
import * as Render from "../render.js"
import * as Source from "../source.js"

const maxCandidates = 10

/**
 * The job whose id is `idOrPrefix`, or else the only one whose id starts
 * with it. Fails with `CliFailure` when none does, or when several do
 * (naming them, up to ten).
 *
 * @since 0.2.0
 * @category commands
 */
export const findJob = (state: Schema.State, idOrPrefix: string): Effect.Effect<Schema.Job, CliFailure> => {
  if (idOrPrefix === "") return Effect.fail(new CliFailure({ reason: "give a job id or a prefix of one" }))
  if (Object.hasOwn(state.jobs, idOrPrefix)) return Effect.succeed(state.jobs[idOrPrefix]!)
  const matches = Object.keys(state.jobs).filter((id) => id.startsWith(idOrPrefix)).sort()
  if (matches.length === 1) return Effect.succeed(state.jobs[matches[0]!]!)
  if (matches.length === 0) {
    return Effect.fail(new CliFailure({ reason: `no job matches ${JSON.stringify(idOrPrefix)}` }))
  }
  const shown = matches.slice(0, maxCandidates).join(", ")
  const more = matches.length > maxCandidates ? ` and ${matches.length - maxCandidates} more` : ""
  return Effect.fail(
    new CliFailure({ reason: `${JSON.stringify(idOrPrefix)} is ambiguous: it matches ${shown}${more}` })
  )
}

/**
 * `job [--dir DIR | --url URL] [--json] <id>`: a job's changes, commits, test results
 * and reviews, by id or unique prefix; `--json` prints the job record in
 * the file's field order. Never writes.
 *
 * @since 0.2.0
 * @category commands
 */
export const spec = Help.make({
  summary: "one job's changes, commits, test results and reviews; never writes",
  examples: [
    ["incrementum-state job k3x9qa", "the job with that id"],
    ["incrementum-state job k3", "the one job whose id starts with k3"],
    ["incrementum-state job k3 --json", "its record as JSON, in the file's field order"]
  ],
  command: Command.make(
    "job",
    {
      dir: CliOptions.dir,
      url: CliOptions.url,
      json: CliOptions.json("print the job's record as JSON (the file's field order) instead of a report"),
      id: Args.text({ name: "id" }).pipe(
        Args.withDescription("a job id, or any prefix of one that matches a single job (an exact id wins)")
      )
    },
    ({ dir, id, json, url }) =>
      Effect.gen(function*() {
        const found = yield* findJob(yield* Source.readState("job", { dir, url }), id)
        if (json) return yield* Console.log(JSON.stringify(FieldOrder.jobToOrderedJson(found), null, 2))
        yield* Console.log(Render.renderJob(found, yield* Clock.currentTimeNanos))
      })
  )
})
