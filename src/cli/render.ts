/**
 * The text the viewing commands print: pure functions of the state, the
 * current time (nanoseconds since the epoch, as `Clock.currentTimeNanos`
 * gives) and a `Style`. No I/O here, so each can be tested without a
 * process.
 *
 * @since 0.2.0
 */
import * as Option from "effect/Option"
import * as Schema from "../Schema.js"
import * as Timestamp from "../Timestamp.js"
import * as Filters from "./filters.js"
import * as Style from "./style.js"

/**
 * How long before `nowNanos` `ts` was, in its largest whole unit: `45s`,
 * `5m`, `2h`, `3d` (`ii`'s format). `-` for the zero time, Go's "not set".
 * A time in the future (another machine's clock) is `0s`.
 *
 * @since 0.2.0
 * @category rendering
 */
export const age = (ts: Timestamp.Timestamp, nowNanos: bigint): string => {
  if (Timestamp.isZero(ts)) return "-"
  const seconds = Number((nowNanos - Timestamp.toEpochNanos(ts)) / 1_000_000_000n)
  if (seconds <= 0) return "0s"
  if (seconds < 60) return `${seconds}s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h`
  return `${Math.floor(seconds / 86_400)}d`
}

/** `age` as prose: "2h ago", or "-" when not set (never "- ago"). */
const ago = (ts: Timestamp.Timestamp, nowNanos: bigint): string =>
  Timestamp.isZero(ts) ? "-" : `${age(ts, nowNanos)} ago`

const touchedAge = (
  record: { readonly updatedAt: Timestamp.Timestamp; readonly createdAt: Timestamp.Timestamp },
  nowNanos: bigint
) => Option.match(Filters.lastTouched(record), { onNone: () => "-", onSome: (ts) => age(ts, nowNanos) })

/**
 * Lays out rows as left-aligned columns separated by two spaces; the first
 * row is the header. Widths ignore ANSI escapes; trailing spaces are
 * trimmed.
 *
 * @since 0.2.0
 * @category rendering
 */
export const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths: Array<number> = []
  for (const row of rows) {
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, Style.visibleLength(cell))))
  }
  return rows
    .map((row) =>
      row.map((cell, i) => (i === row.length - 1 ? cell : cell + " ".repeat(widths[i]! - Style.visibleLength(cell))))
        .join("  ").trimEnd()
    )
    .join("\n")
}

/**
 * For each id, the length of its shortest prefix that `job` resolves to it
 * alone: one more than the longest prefix it shares with another id,
 * at most its length (an exact id wins over longer ids it prefixes).
 *
 * @since 0.2.0
 * @category rendering
 */
export const uniquePrefixLengths = (ids: Iterable<string>): Map<string, number> => {
  const sorted = [...ids].sort()
  const common = (a: string | undefined, b: string) => {
    if (a === undefined) return 0
    let i = 0
    while (i < a.length && i < b.length && a[i] === b[i]) i++
    return i
  }
  const lengths = new Map<string, number>()
  sorted.forEach((id, i) => {
    const shared = Math.max(common(sorted[i - 1], id), common(sorted[i + 1], id))
    lengths.set(id, Math.min(shared + 1, id.length))
  })
  return lengths
}

const orDash = (value: string | number | undefined): string =>
  value === undefined || value === "" ? "-" : String(value)

const currentIteration = (job: Schema.Job): string =>
  Option.match(Schema.currentChange(job), { onNone: () => "-", onSome: (c) => String(Schema.iterationCount(c)) })

const plural = (n: number, one: string, many = one + "s") => `${n} ${n === 1 ? one : many}`

/**
 * What a job listing left out, as lines to print under it: the matches
 * beyond `--limit`, and the jobs of other statuses by status. Empty when
 * nothing was left out.
 *
 * @since 0.2.0
 * @category rendering
 */
export const selectionFooter = (selection: Filters.Selection): Array<string> => {
  const lines: Array<string> = []
  const beyond = selection.matched - selection.shown.length
  if (beyond > 0) lines.push(`(${plural(beyond, "more job")} match; --limit 0 lists them all)`)
  if (selection.otherStatuses.length > 0) {
    const counts = selection.otherStatuses.map(([status, n]) => `${n} ${status === "" ? "without a status" : status}`)
    lines.push(`(not listed: ${counts.join(", ")}; --status all lists every status)`)
  }
  return lines
}

/**
 * Options of `renderShow` and `renderJobs`.
 *
 * @since 0.2.0
 * @category models
 */
export interface ListingOptions {
  readonly nowNanos: bigint
  readonly style: Style.Style
  readonly filter: Filters.JobFilter
}

const jobIdCell = (prefixes: Map<string, number>, style: Style.Style) => (id: string) =>
  style.highlightPrefix(id, prefixes.get(id) ?? 0)

/** Rows beyond `limit` (0: none) are left out; says how many. */
const limited = <A>(rows: ReadonlyArray<A>, limit: number) => {
  const shown = limit > 0 ? rows.slice(0, limit) : rows
  const beyond = rows.length - shown.length
  return { shown, footer: beyond > 0 ? [`(${beyond} more; --limit 0 lists them all)`] : [] }
}

const section = <A>(
  title: string,
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<A>,
  limit: number,
  cells: (row: A) => ReadonlyArray<string>
) => {
  const { footer, shown } = limited(rows, limit)
  const count = shown.length === rows.length ? `${rows.length}` : `${shown.length} of ${rows.length}`
  return [`${title} (${count})`, ...(shown.length === 0 ? [] : [table([header, ...shown.map(cells)])]), ...footer]
    .join("\n")
}

/**
 * The `show` report: repos (by name), then workspaces, sessions and jobs,
 * each newest first, as aligned tables with ages. `--repo`, `--since` and
 * `--limit` apply to every section; the jobs section follows the whole
 * `filter` and ends with `selectionFooter`.
 *
 * @since 0.2.0
 * @category rendering
 */
export const renderShow = (state: Schema.State, options: ListingOptions): string => {
  const { filter, nowNanos } = options
  const recent = <
    A extends { readonly repo: string; readonly updatedAt: Timestamp.Timestamp; readonly createdAt: Timestamp.Timestamp }
  >(map: { readonly [key: string]: A }) =>
    Filters.newestFirst(map).filter(([, r]) =>
      Filters.repoMatches(r.repo, filter.repo) && Filters.touchedSince(r, filter.sinceNanos, nowNanos)
    )
  const repos = Object.entries(state.repos)
    .filter(([name]) => Filters.repoMatches(name, filter.repo))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const selection = Filters.selectJobs(state, filter, nowNanos)
  const idCell = jobIdCell(uniquePrefixLengths(Object.keys(state.jobs)), options.style)
  const jobs = [
    `JOBS (${selection.shown.length} of ${Object.keys(state.jobs).length})`,
    ...(selection.shown.length === 0 ? ["no jobs match"] : [table([
      ["JOB", "TODO", "REPO", "STAGE", "STATUS", "CHANGES", "ITERATION", "AGE"],
      ...selection.shown.map(([id, j]) => [
        idCell(id),
        orDash(j.todoId),
        orDash(j.repo),
        orDash(j.stage),
        orDash(j.status),
        String(j.changes?.length ?? 0),
        currentIteration(j),
        touchedAge(j, nowNanos)
      ])
    ])]),
    ...selectionFooter(selection)
  ].join("\n")
  return [
    section("REPOS", ["NAME", "SOURCE PATH"], repos, filter.limit, ([name, r]) => [name, orDash(r.sourcePath)]),
    section(
      "WORKSPACES",
      ["WORKSPACE", "STATUS", "PURPOSE", "PID", "AGE"],
      recent(state.workspaces),
      filter.limit,
      ([key, w]) => [key, orDash(w.status), orDash(w.purpose), orDash(w.acquiredByPid), touchedAge(w, nowNanos)]
    ),
    section(
      "SESSIONS",
      ["SESSION", "STATUS", "EXIT", "DURATION", "AGE"],
      recent(state.opencodeSessions),
      filter.limit,
      ([key, s]) => [
        key,
        orDash(s.status),
        orDash(s.exitCode),
        s.durationSeconds === undefined ? "-" : `${s.durationSeconds}s`,
        touchedAge(s, nowNanos)
      ]
    ),
    jobs
  ].join("\n\n")
}

/**
 * The `jobs` listing: one line per job (age, id with its unique prefix
 * highlighted, stage, status, repo, todo), newest first, then
 * `selectionFooter`.
 *
 * @since 0.2.0
 * @category rendering
 */
export const renderJobs = (state: Schema.State, options: ListingOptions): string => {
  const selection = Filters.selectJobs(state, options.filter, options.nowNanos)
  const idCell = jobIdCell(uniquePrefixLengths(Object.keys(state.jobs)), options.style)
  const body = selection.shown.length === 0 ? ["no jobs match"] : [table([
    ["AGE", "JOB", "STAGE", "STATUS", "REPO", "TODO"],
    ...selection.shown.map(([id, j]) => [
      touchedAge(j, options.nowNanos),
      idCell(id),
      orDash(j.stage),
      orDash(j.status),
      orDash(j.repo),
      orDash(j.todoId)
    ])
  ])]
  return [...body, ...selectionFooter(selection)].join("\n")
}

const firstLine = (text: string) => text.split("\n", 1)[0] ?? ""

const indentLines = (text: string, prefix: string) =>
  text.split("\n").map((line) => (line === "" ? "" : prefix + line)).join("\n")

const renderReview = (label: string, review: Schema.JobReview, nowNanos: bigint, indent: string): string => {
  const head = `${indent}${label}: ${review.outcome || "(no outcome)"}  ${ago(review.reviewedAt, nowNanos)}`
  return review.comments === undefined ? head : `${head}\n${indentLines(review.comments, indent + "  ")}`
}

/**
 * The `job` report: the job's header (todo, repo, stage, status, models,
 * sessions, feedback), then each change with its commits in order (one
 * per iteration: full commit id, tests passed/failed/-, the draft
 * message's first line, the review and its comments), then the project
 * review. The current change and commit (see `Schema.currentChange`) are
 * marked.
 *
 * @since 0.2.0
 * @category rendering
 */
export const renderJob = (job: Schema.Job, nowNanos: bigint): string => {
  const lines: Array<string> = [
    `job ${job.id}  todo ${orDash(job.todoId)}  repo ${orDash(job.repo)}`,
    `stage ${orDash(job.stage)}  status ${orDash(job.status)}  agent ${orDash(job.agent)}`,
    `created ${ago(job.createdAt, nowNanos)}  updated ${ago(job.updatedAt, nowNanos)}  completed ${
      ago(job.completedAt, nowNanos)
    }`
  ]
  const models = [
    ["implementation", job.implementationModel],
    ["code review", job.codeReviewModel],
    ["project review", job.projectReviewModel]
  ].filter(([, model]) => model !== undefined)
  if (models.length > 0) lines.push(`models: ${models.map(([role, model]) => `${role} ${model}`).join(", ")}`)
  if (job.opencodeSessions !== undefined) {
    lines.push(`sessions: ${job.opencodeSessions.map((s) => `${orDash(s.purpose)} ${orDash(s.id)}`).join(", ")}`)
  }
  if (job.feedback !== undefined) lines.push(`feedback:\n${indentLines(job.feedback, "  ")}`)
  const current = Option.getOrUndefined(Schema.currentChange(job))
  const changes = job.changes ?? []
  if (changes.length === 0) lines.push("", "no changes yet")
  for (const change of changes) {
    // Identity, not id: a hand-edited file could repeat a change id.
    const mark = change === current ? "  (current)" : Schema.isComplete(change) ? "  (complete)" : ""
    const count = Schema.iterationCount(change)
    lines.push(
      "",
      `change ${orDash(change.changeId)}${mark}  ${plural(count, "iteration")}  created ${ago(change.createdAt, nowNanos)}`
    )
    const commits = change.commits ?? []
    if (commits.length === 0) lines.push("  no commits yet")
    commits.forEach((commit, i) => {
      const tests = commit.testsPassed === undefined ? "tests -" : commit.testsPassed ? "tests passed" : "tests failed"
      const isCurrent = change === current && i === commits.length - 1 ? "  <- current commit" : ""
      lines.push(`  #${i + 1} ${commit.commitId || "(no commit id)"}  ${tests}${isCurrent}`)
      lines.push(`     ${firstLine(commit.draftMessage) || "(no draft message)"}`)
      lines.push(commit.review === undefined ? "     review: -" : renderReview("review", commit.review, nowNanos, "     "))
    })
  }
  lines.push("", job.projectReview === undefined ? "project review: -" : renderReview("project review", job.projectReview, nowNanos, ""))
  return lines.join("\n")
}
