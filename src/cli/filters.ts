/**
 * Which jobs `show` and `jobs` list: the filters, their defaults (active
 * jobs, newest first, the first 20) and the counts of what they left out.
 *
 * @since 0.2.0
 */
import * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Schema from "../Schema.js"
import * as Timestamp from "../Timestamp.js"
import { CliFailure } from "./errors.js"
import { didYouMean } from "./help.js"

/**
 * The statuses `--status` accepts, besides `all`.
 *
 * @since 0.2.0
 * @category constants
 */
export const knownStatuses: ReadonlyArray<string> = ["active", "completed", "failed", "abandoned"]

/**
 * The stages `--stage` accepts.
 *
 * @since 0.2.0
 * @category constants
 */
export const knownStages: ReadonlyArray<string> = ["implementing", "testing", "reviewing", "committing"]

/**
 * How many jobs are listed when `--limit` is not given.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultLimit = 20

/**
 * A job listing's filters. `statuses` is `"all"` or the statuses to keep;
 * `sinceNanos` keeps what was touched (see `lastTouched`) that many
 * nanoseconds ago or later; `limit` 0 lists every match.
 *
 * @since 0.2.0
 * @category models
 */
export interface JobFilter {
  readonly statuses: "all" | ReadonlyArray<string>
  readonly repo: Option.Option<string>
  readonly stage: Option.Option<string>
  readonly sinceNanos: Option.Option<bigint>
  readonly limit: number
}

/**
 * Active jobs of every repo, stage and age, the first `defaultLimit`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const defaultFilter: JobFilter = {
  statuses: ["active"],
  repo: Option.none(),
  stage: Option.none(),
  sinceNanos: Option.none(),
  limit: defaultLimit
}

type Touchable = { readonly updatedAt: Timestamp.Timestamp; readonly createdAt: Timestamp.Timestamp }

/**
 * When a record was last touched, for "newest first", `--since` and the
 * AGE column: its `updatedAt`, or its `createdAt` when that is not set;
 * `None` when neither is.
 *
 * @since 0.2.0
 * @category filters
 */
export const lastTouched = (record: Touchable): Option.Option<Timestamp.Timestamp> =>
  !Timestamp.isZero(record.updatedAt)
    ? Option.some(record.updatedAt)
    : !Timestamp.isZero(record.createdAt)
    ? Option.some(record.createdAt)
    : Option.none()

const byKey = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/**
 * A map's entries, newest first (see `lastTouched`); unknown times last,
 * equal times by key, so the order is the same on every run.
 *
 * @since 0.2.0
 * @category filters
 */
export const newestFirst = <A extends Touchable>(map: { readonly [key: string]: A }): Array<readonly [string, A]> =>
  Object.entries(map)
    .map(([key, value]) => ({ key, value, at: Option.map(lastTouched(value), Timestamp.toEpochNanos) }))
    .sort((a, b) => {
      if (Option.isSome(a.at) && Option.isSome(b.at) && a.at.value !== b.at.value) return a.at.value > b.at.value ? -1 : 1
      if (Option.isSome(a.at) !== Option.isSome(b.at)) return Option.isSome(a.at) ? -1 : 1
      return byKey(a.key, b.key)
    })
    .map(({ key, value }) => [key, value] as const)

/**
 * True when `record` was touched at or after `nowNanos - sinceNanos`; a
 * record with no time at all is never recent.
 *
 * @since 0.2.0
 * @category filters
 */
export const touchedSince = (record: Touchable, sinceNanos: Option.Option<bigint>, nowNanos: bigint): boolean =>
  Option.isNone(sinceNanos) ||
  Option.match(lastTouched(record), {
    onNone: () => false,
    onSome: (ts) => Timestamp.toEpochNanos(ts) >= nowNanos - sinceNanos.value
  })

/**
 * True when `repo` passes the `--repo` filter.
 *
 * @since 0.2.0
 * @category filters
 */
export const repoMatches = (repo: string, wanted: Option.Option<string>): boolean =>
  Option.isNone(wanted) || wanted.value === repo

/**
 * The jobs a listing shows, and what it left out.
 *
 * - `shown`: the matches, newest first, at most `limit`.
 * - `matched`: how many jobs passed every filter.
 * - `otherStatuses`: jobs that passed every filter but `--status`,
 *   counted by status (`""` for a job with none), known statuses in
 *   `knownStatuses` order, then others by name.
 *
 * @since 0.2.0
 * @category models
 */
export interface Selection {
  readonly shown: ReadonlyArray<readonly [string, Schema.Job]>
  readonly matched: number
  readonly otherStatuses: ReadonlyArray<readonly [string, number]>
}

const statusRank = (status: string) => {
  const i = knownStatuses.indexOf(status)
  return i === -1 ? knownStatuses.length : i
}

/**
 * Applies `filter` to the state's jobs at `nowNanos` (nanoseconds since
 * the epoch).
 *
 * @since 0.2.0
 * @category filters
 */
export const selectJobs = (state: Schema.State, filter: JobFilter, nowNanos: bigint): Selection => {
  const matches: Array<readonly [string, Schema.Job]> = []
  const others = new Map<string, number>()
  for (const entry of newestFirst(state.jobs)) {
    const job = entry[1]
    if (!repoMatches(job.repo, filter.repo)) continue
    if (Option.isSome(filter.stage) && job.stage !== filter.stage.value) continue
    if (!touchedSince(job, filter.sinceNanos, nowNanos)) continue
    if (filter.statuses !== "all" && !filter.statuses.includes(job.status)) {
      others.set(job.status, (others.get(job.status) ?? 0) + 1)
      continue
    }
    matches.push(entry)
  }
  return {
    shown: filter.limit > 0 ? matches.slice(0, filter.limit) : matches,
    matched: matches.length,
    otherStatuses: [...others].sort(([a], [b]) => statusRank(a) - statusRank(b) || byKey(a, b))
  }
}

/**
 * `filter` with its `--repo` turned into a repo name of `state`: a name
 * stays as it is; anything else is taken as a source path, resolved against
 * the working directory (`--repo .` in a repo's root), and replaced by the
 * name of the repo recorded with that path. Fails with `CliFailure` when
 * it is neither, so a typo is not taken for a repo without jobs.
 *
 * @since 0.2.0
 * @category filters
 */
export const resolveRepo = (state: Schema.State, filter: JobFilter) =>
  Effect.gen(function*() {
    if (Option.isNone(filter.repo) || Object.hasOwn(state.repos, filter.repo.value)) return filter
    const path = yield* Path.Path
    const wanted = path.resolve(filter.repo.value)
    const names = Object.keys(state.repos).sort()
    const byPath = names.find((name) => {
      const source = state.repos[name]!.sourcePath
      return source !== "" && path.resolve(source) === wanted
    })
    if (byPath !== undefined) return { ...filter, repo: Option.some(byPath) }
    return yield* new CliFailure({
      reason: `--repo ${filter.repo.value}: no repo has that name or source path${didYouMean(filter.repo.value, names)}`
    })
  })
