/**
 * The `incrementum-state` command line, built with `@effect/cli`: look at a
 * state file (`show`, `job`), validate it (`check`), and name repos
 * (`repo-name`, `repo-for`). The rendering functions are exported so they
 * can be tested, and reused, without a process.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as EffectSchema from "effect/Schema"
import * as Repo from "./Repo.js"
import * as Schema from "./Schema.js"
import { CorruptStateFile, LockTimeout, StateIoError } from "./StateError.js"
import * as Store from "./Store.js"
import * as Timestamp from "./Timestamp.js"

/**
 * An expected failure of a command that is not a store error (no such job,
 * an ambiguous prefix, not a workspace): the binary prints its message on
 * one line and exits 1.
 *
 * @since 0.1.0
 * @category errors
 */
export class CliFailure extends EffectSchema.TaggedError<CliFailure>("@incrementum/state/CliFailure")("CliFailure", {
  reason: EffectSchema.String
}) {
  override get message(): string {
    return this.reason
  }
}

/**
 * True for the failures a user can act on, which the binary reports as one
 * line without a stack trace: `CliFailure`, the store's errors and
 * `RepoSourceMissing`. Anything else is a bug and is reported in full.
 *
 * @since 0.1.0
 * @category errors
 */
export const isExpectedFailure = (
  u: unknown
): u is CliFailure | CorruptStateFile | StateIoError | LockTimeout | Repo.RepoSourceMissing =>
  u instanceof CliFailure || u instanceof CorruptStateFile || u instanceof StateIoError ||
  u instanceof LockTimeout || u instanceof Repo.RepoSourceMissing

// ---------------------------------------------------------------------------
// Rendering

/**
 * How long before `nowNanos` (nanoseconds since the epoch, as Effect's
 * `Clock.currentTimeNanos` gives) `ts` was, in its largest whole unit:
 * `45s`, `5m`, `2h`, `3d`. `-` for the zero time, Go's "not set". A time
 * in the future (another machine's clock) is `0s`.
 *
 * @since 0.1.0
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

/**
 * Lays out rows as left-aligned columns separated by two spaces; the first
 * row is the header. Trailing spaces are trimmed.
 *
 * @since 0.1.0
 * @category rendering
 */
export const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths: Array<number> = []
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)))
  return rows
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ").trimEnd())
    .join("\n")
}

/**
 * When a record was last touched, for "newest first" and its AGE column:
 * its `updatedAt`, or its `createdAt` when that is not set; `None` when
 * neither is (unknown: sorted last, shown `-`).
 *
 * @since 0.1.0
 * @category rendering
 */
export const lastTouched = (record: {
  readonly updatedAt: Timestamp.Timestamp
  readonly createdAt: Timestamp.Timestamp
}): Option.Option<Timestamp.Timestamp> =>
  !Timestamp.isZero(record.updatedAt)
    ? Option.some(record.updatedAt)
    : !Timestamp.isZero(record.createdAt)
    ? Option.some(record.createdAt)
    : Option.none()

const newestFirst = <A extends { readonly updatedAt: Timestamp.Timestamp; readonly createdAt: Timestamp.Timestamp }>(
  map: { readonly [key: string]: A }
): Array<readonly [string, A]> =>
  Object.entries(map).sort(([ka, a], [kb, b]) => {
    const ta = lastTouched(a)
    const tb = lastTouched(b)
    // Unknown times last; equal times by key, so the order is stable across runs.
    const byTime = Option.isSome(ta)
      ? Option.isSome(tb) ? Timestamp.Order(tb.value, ta.value) : -1
      : Option.isSome(tb)
      ? 1
      : 0
    return byTime !== 0 ? byTime : ka < kb ? -1 : ka > kb ? 1 : 0
  })

const touchedAge = (
  record: { readonly updatedAt: Timestamp.Timestamp; readonly createdAt: Timestamp.Timestamp },
  nowNanos: bigint
) => Option.match(lastTouched(record), { onNone: () => "-", onSome: (ts) => age(ts, nowNanos) })

const orDash = (value: string | number | undefined): string =>
  value === undefined || value === "" ? "-" : String(value)

const currentIteration = (job: Schema.Job): string =>
  Option.match(Schema.currentChange(job), { onNone: () => "-", onSome: (c) => String(Schema.iterationCount(c)) })

/**
 * The `show` report: repos (by name), then workspaces, sessions and jobs,
 * each newest first (see `lastTouched`), as aligned tables with ages
 * relative to `nowNanos`.
 *
 * @since 0.1.0
 * @category rendering
 */
export const renderShow = (state: Schema.State, nowNanos: bigint): string => {
  const repos = Object.entries(state.repos).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const workspaces = newestFirst(state.workspaces)
  const sessions = newestFirst(state.opencodeSessions)
  const jobs = newestFirst(state.jobs)
  return [
    `REPOS (${repos.length})\n` + table([["NAME", "SOURCE PATH"], ...repos.map(([name, r]) => [name, orDash(r.sourcePath)])]),
    `WORKSPACES (${workspaces.length})\n` + table([
      ["WORKSPACE", "STATUS", "PURPOSE", "PID", "AGE"],
      ...workspaces.map(([key, w]) => [
        key,
        orDash(w.status),
        orDash(w.purpose),
        orDash(w.acquiredByPid),
        touchedAge(w, nowNanos)
      ])
    ]),
    `SESSIONS (${sessions.length})\n` + table([
      ["SESSION", "STATUS", "EXIT", "DURATION", "AGE"],
      ...sessions.map(([key, s]) => [
        key,
        orDash(s.status),
        orDash(s.exitCode),
        s.durationSeconds === undefined ? "-" : `${s.durationSeconds}s`,
        touchedAge(s, nowNanos)
      ])
    ]),
    `JOBS (${jobs.length})\n` + table([
      ["JOB", "TODO", "REPO", "STAGE", "STATUS", "CHANGES", "ITERATION", "AGE"],
      ...jobs.map(([id, j]) => [
        id,
        orDash(j.todoId),
        orDash(j.repo),
        orDash(j.stage),
        orDash(j.status),
        String(j.changes?.length ?? 0),
        currentIteration(j),
        touchedAge(j, nowNanos)
      ])
    ])
  ].join("\n\n")
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
 * @since 0.1.0
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
      `change ${orDash(change.changeId)}${mark}  ${count} ${count === 1 ? "iteration" : "iterations"}  created ${
        ago(change.createdAt, nowNanos)
      }`
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

const maxCandidates = 10

/**
 * The job whose id is `idOrPrefix`, or else the only one whose id starts
 * with it. Fails with `CliFailure` when none does, or when several do
 * (naming them, up to ten).
 *
 * @since 0.1.0
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

// ---------------------------------------------------------------------------
// Reading without the store

/**
 * Reads and decodes `<dir>/state.json` without the store: no lock, and no
 * write, where the store's `load` would rewrite a file that still holds
 * legacy session prompts. The viewing commands must be safe to run on a
 * file someone is debugging, and must not wait behind a held lock. `None`
 * when the file does not exist.
 */
const readStateFile = (directory: Option.Option<string>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const file = path.join(Option.getOrElse(directory, Store.defaultDir), "state.json")
    const ioError = (operation: string) => (e: { readonly message: string; readonly description?: string | undefined }) =>
      new StateIoError({ operation, path: file, reason: e.description ?? e.message, cause: e })
    const info = yield* fs.stat(file).pipe(
      Effect.map(Option.some),
      Effect.catchIf((e) => e._tag === "SystemError" && e.reason === "NotFound", () => Effect.succeed(Option.none())),
      Effect.mapError(ioError("stat"))
    )
    if (Option.isNone(info)) return { file, state: Option.none<Schema.State>() }
    // Reading a FIFO or a device would block or never end.
    if (info.value.type !== "File") {
      return yield* new StateIoError({ operation: "read", path: file, reason: `not a regular file (${info.value.type})` })
    }
    const bytes = yield* fs.readFile(file).pipe(Effect.mapError(ioError("read")))
    return { file, state: Option.some(yield* Schema.decode(bytes, { path: file })) }
  })

const readState = (directory: Option.Option<string>) =>
  Effect.map(readStateFile(directory), ({ state }) => Option.getOrElse(state, () => Schema.empty))

// ---------------------------------------------------------------------------
// Commands

const dir = Options.text("dir").pipe(
  Options.withPseudoName("DIR"),
  Options.withDescription("the state directory (default: $HOME/.local/state/incrementum)"),
  Options.optional
)

const lockTimeout = Options.integer("lock-timeout").pipe(
  Options.withPseudoName("SECONDS"),
  Options.withDescription("seconds to wait for state.lock before giving up (default: 30)"),
  Options.filterMap((n) => (n >= 0 ? Option.some(n) : Option.none()), "--lock-timeout must not be negative"),
  Options.optional
)

const storeFor = (directory: Option.Option<string>, timeout: Option.Option<number>) =>
  Store.layer({
    ...Option.match(directory, { onNone: () => ({}), onSome: (d) => ({ dir: d }) }),
    ...Option.match(timeout, { onNone: () => ({}), onSome: (seconds) => ({ lockTimeout: Duration.seconds(seconds) }) })
  })

const show = Command.make(
  "show",
  {
    dir,
    json: Options.boolean("json").pipe(
      Options.withDescription("print the whole state as JSON (camelCase keys, RFC 3339 times) instead of tables")
    )
  },
  ({ dir, json }) =>
    Effect.gen(function*() {
      const state = yield* readState(dir)
      // Timestamps are their canonical RFC 3339 text already, so JSON.stringify writes them as such.
      if (json) return yield* Console.log(JSON.stringify(state, null, 2))
      yield* Console.log(renderShow(state, yield* Clock.currentTimeNanos))
    })
).pipe(Command.withDescription("show repos, workspaces, sessions and jobs, newest first; never writes"))

const job = Command.make(
  "job",
  { dir, id: Args.text({ name: "id or prefix" }) },
  ({ dir, id }) =>
    Effect.gen(function*() {
      const found = yield* findJob(yield* readState(dir), id)
      yield* Console.log(renderJob(found, yield* Clock.currentTimeNanos))
    })
).pipe(Command.withDescription("show one job's changes, commits, test results and reviews; never writes"))

const check = Command.make(
  "check",
  { dir },
  ({ dir }) =>
    Effect.gen(function*() {
      const { file, state } = yield* readStateFile(dir)
      if (Option.isNone(state)) return yield* Console.log(`ok: ${file} does not exist (the empty state)`)
      const count = (map: object) => Object.keys(map).length
      const s = state.value
      yield* Console.log(
        `ok: ${file}: ${count(s.repos)} repos, ${count(s.workspaces)} workspaces, ${
          count(s.opencodeSessions)
        } sessions, ${count(s.jobs)} jobs`
      )
    })
).pipe(Command.withDescription("validate the state file; never writes, not even to drop legacy prompts"))

const repoName = Command.make(
  "repo-name",
  { dir, lockTimeout, path: Args.text({ name: "source path" }) },
  ({ dir, lockTimeout, path }) =>
    Effect.flatMap(Repo.getOrCreateRepoName(path), Console.log).pipe(Effect.provide(storeFor(dir, lockTimeout)))
).pipe(Command.withDescription("print the repo name for a source path, recording a new repo if there is none"))

const repoFor = Command.make(
  "repo-for",
  { dir, lockTimeout, path: Args.text({ name: "workspace path" }) },
  ({ dir, lockTimeout, path }) =>
    Repo.repoPathForWorkspace(path).pipe(
      Effect.flatMap(Option.match({
        onNone: () => Effect.fail(new CliFailure({ reason: `not a workspace: ${path}` })),
        onSome: Console.log
      })),
      Effect.provide(storeFor(dir, lockTimeout))
    )
).pipe(Command.withDescription("print the source path of the repo a workspace belongs to"))

/**
 * The root command, `incrementum-state`, with its subcommands `show`,
 * `job`, `check`, `repo-name` and `repo-for`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("incrementum-state").pipe(
  Command.withDescription("inspect and check the incrementum state file"),
  Command.withSubcommands([show, job, check, repoName, repoFor])
)

/**
 * Runs the CLI on an argv shaped like `process.argv` (the node and script
 * paths come first). Needs the platform's `FileSystem`, `Path` and
 * `Terminal` (`NodeContext.layer`). Fails with the command's error (see
 * `isExpectedFailure`) or @effect/cli's `ValidationError`, which it has
 * already printed.
 *
 * @since 0.1.0
 * @category commands
 */
export const run = Command.run(command, { name: "incrementum-state", version: "0.1.0" })
