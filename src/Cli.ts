/**
 * The `incrementum-state` command line: look at a state file, check it,
 * and name repos, built with `@effect/cli`.
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
import * as Store from "./Store.js"
import * as Timestamp from "./Timestamp.js"

/**
 * An expected failure of a command (no such job, not a workspace, …): the
 * binary prints its message on one line and exits non-zero.
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

// ---------------------------------------------------------------------------
// Rendering

/**
 * How long ago `ts` was, shortest unit first that fits: `45s`, `5m`, `2h`,
 * `3d`; `-` for the zero time (not set).
 *
 * @since 0.1.0
 * @category rendering
 */
export const age = (ts: Timestamp.Timestamp, nowNanos: bigint): string => {
  if (Timestamp.isZero(ts)) return "-"
  const seconds = Number((nowNanos - Timestamp.toEpochNanos(ts)) / 1_000_000_000n)
  if (seconds < 0) return "0s"
  if (seconds < 60) return `${seconds}s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h`
  return `${Math.floor(seconds / 86_400)}d`
}

/**
 * Lays out rows as columns separated by two spaces, the first row being the
 * header.
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

/** The most recent of a record's times, for "newest first". */
const lastTouched = (...times: ReadonlyArray<Timestamp.Timestamp>): bigint =>
  times.reduce((latest, ts) => {
    if (Timestamp.isZero(ts)) return latest
    const nanos = Timestamp.toEpochNanos(ts)
    return nanos > latest ? nanos : latest
  }, -(2n ** 80n))

const newestFirst = <A>(entries: ReadonlyArray<readonly [string, A]>, touched: (a: A) => bigint) =>
  [...entries].sort(([ka, a], [kb, b]) => {
    const ta = touched(a)
    const tb = touched(b)
    return ta === tb ? (ka < kb ? -1 : 1) : ta > tb ? -1 : 1
  })

const currentIteration = (job: Schema.Job): string =>
  Option.match(Schema.currentChange(job), { onNone: () => "-", onSome: (c) => String(Schema.iterationCount(c)) })

/**
 * The `show` report: repos, workspaces, sessions and jobs as aligned
 * tables, newest first.
 *
 * @since 0.1.0
 * @category rendering
 */
export const renderShow = (state: Schema.State, nowNanos: bigint): string => {
  const sections: Array<string> = []
  const repos = Object.entries(state.repos).sort(([a], [b]) => (a < b ? -1 : 1))
  sections.push(
    `REPOS (${repos.length})\n` + table([["NAME", "SOURCE PATH"], ...repos.map(([name, r]) => [name, r.sourcePath])])
  )
  const workspaces = newestFirst(Object.entries(state.workspaces), (w) => lastTouched(w.updatedAt, w.acquiredAt, w.createdAt))
  sections.push(
    `WORKSPACES (${workspaces.length})\n` + table([
      ["WORKSPACE", "STATUS", "PURPOSE", "PID", "AGE"],
      ...workspaces.map(([key, w]) => [
        key,
        w.status || "-",
        w.purpose ?? "-",
        w.acquiredByPid === undefined ? "-" : String(w.acquiredByPid),
        age(w.updatedAt, nowNanos)
      ])
    ])
  )
  const sessions = newestFirst(
    Object.entries(state.opencodeSessions),
    (s) => lastTouched(s.updatedAt, s.completedAt, s.startedAt, s.createdAt)
  )
  sections.push(
    `SESSIONS (${sessions.length})\n` + table([
      ["SESSION", "STATUS", "EXIT", "DURATION", "AGE"],
      ...sessions.map(([key, s]) => [
        key,
        s.status || "-",
        s.exitCode === undefined ? "-" : String(s.exitCode),
        s.durationSeconds === undefined ? "-" : `${s.durationSeconds}s`,
        age(s.updatedAt, nowNanos)
      ])
    ])
  )
  const jobs = newestFirst(Object.entries(state.jobs), (j) => lastTouched(j.updatedAt, j.completedAt, j.startedAt, j.createdAt))
  sections.push(
    `JOBS (${jobs.length})\n` + table([
      ["JOB", "TODO", "REPO", "STAGE", "STATUS", "CHANGES", "ITERATION", "AGE"],
      ...jobs.map(([id, j]) => [
        id,
        j.todoId,
        j.repo,
        j.stage || "-",
        j.status || "-",
        String(j.changes?.length ?? 0),
        currentIteration(j),
        age(j.updatedAt, nowNanos)
      ])
    ])
  )
  return sections.join("\n\n")
}

const firstLine = (text: string) => text.split("\n", 1)[0] ?? ""

const indentLines = (text: string, prefix: string) =>
  text.split("\n").map((line) => (line === "" ? "" : prefix + line)).join("\n")

const renderReview = (review: Schema.JobReview, nowNanos: bigint, prefix: string): string => {
  const head = `${prefix}review: ${review.outcome || "(no outcome)"}  ${age(review.reviewedAt, nowNanos)} ago`
  return review.comments === undefined ? head : `${head}\n${indentLines(review.comments, prefix + "  ")}`
}

/**
 * The `job` report: one job's change history, each change with its
 * commits (iterations), test results and reviews, then the project review.
 *
 * @since 0.1.0
 * @category rendering
 */
export const renderJob = (job: Schema.Job, nowNanos: bigint): string => {
  const lines: Array<string> = [
    `job ${job.id}  todo ${job.todoId}  repo ${job.repo}`,
    `stage ${job.stage || "-"}  status ${job.status || "-"}  agent ${job.agent || "-"}  updated ${
      age(job.updatedAt, nowNanos)
    } ago`
  ]
  const models = [
    ["implementation", job.implementationModel],
    ["code review", job.codeReviewModel],
    ["project review", job.projectReviewModel]
  ].filter(([, model]) => model !== undefined)
  if (models.length > 0) lines.push(`models: ${models.map(([role, model]) => `${role} ${model}`).join(", ")}`)
  if (job.feedback !== undefined) lines.push(`feedback:\n${indentLines(job.feedback, "  ")}`)
  const current = Option.getOrUndefined(Schema.currentChange(job))
  const changes = job.changes ?? []
  if (changes.length === 0) lines.push("", "no changes yet")
  for (const change of changes) {
    const mark = change === current ? "  (current)" : Schema.isComplete(change) ? "  (complete)" : ""
    lines.push(
      "",
      `change ${change.changeId}${mark}  ${Schema.iterationCount(change)} iteration(s)  created ${
        age(change.createdAt, nowNanos)
      } ago`
    )
    const commits = change.commits ?? []
    commits.forEach((commit, i) => {
      const tests = commit.testsPassed === undefined ? "tests -" : commit.testsPassed ? "tests passed" : "tests failed"
      const isCurrent = change === current && i === commits.length - 1 ? "  <- current commit" : ""
      lines.push(`  #${i + 1} ${commit.commitId.slice(0, 12) || "(no commit id)"}  ${tests}${isCurrent}`)
      lines.push(`     ${firstLine(commit.draftMessage)}`)
      lines.push(commit.review === undefined ? "     review: -" : renderReview(commit.review, nowNanos, "     "))
    })
  }
  if (job.projectReview !== undefined) lines.push("", renderReview(job.projectReview, nowNanos, "project "))
  return lines.join("\n")
}

/**
 * Finds the job whose id is `idOrPrefix`, or the only one starting with
 * it. Fails with `CliFailure` naming the candidates otherwise.
 *
 * @since 0.1.0
 * @category commands
 */
export const findJob = (state: Schema.State, idOrPrefix: string): Effect.Effect<Schema.Job, CliFailure> => {
  if (Object.hasOwn(state.jobs, idOrPrefix)) return Effect.succeed(state.jobs[idOrPrefix]!)
  const matches = Object.keys(state.jobs).filter((id) => id.startsWith(idOrPrefix)).sort()
  if (matches.length === 1) return Effect.succeed(state.jobs[matches[0]!]!)
  return Effect.fail(
    new CliFailure({
      reason: matches.length === 0
        ? `no job matches ${JSON.stringify(idOrPrefix)}`
        : `${JSON.stringify(idOrPrefix)} is ambiguous: ${matches.join(", ")}`
    })
  )
}

// ---------------------------------------------------------------------------
// Commands

const dir = Options.text("dir").pipe(
  Options.withDescription("the state directory (default: $HOME/.local/state/incrementum)"),
  Options.optional
)

const lockTimeout = Options.integer("lock-timeout").pipe(
  Options.withDescription("seconds to wait for state.lock before giving up (default 30)"),
  Options.optional
)

const storeFor = (directory: Option.Option<string>, timeout: Option.Option<number> = Option.none()) =>
  Store.layer({
    ...Option.match(directory, { onNone: () => ({}), onSome: (d) => ({ dir: d }) }),
    ...Option.match(timeout, { onNone: () => ({}), onSome: (seconds) => ({ lockTimeout: Duration.seconds(seconds) }) })
  })

const loadState = Effect.flatMap(Store.StateStore, (store) => store.load)

const nowNanos = Clock.currentTimeNanos

const show = Command.make(
  "show",
  { dir, json: Options.boolean("json").pipe(Options.withDescription("print the decoded state as JSON")) },
  ({ dir, json }) =>
    Effect.gen(function*() {
      const state = yield* loadState
      if (json) return yield* Console.log(JSON.stringify(state, null, 2))
      yield* Console.log(renderShow(state, yield* nowNanos))
    }).pipe(Effect.provide(storeFor(dir)))
).pipe(Command.withDescription("show repos, workspaces, sessions and jobs, newest first"))

const job = Command.make(
  "job",
  { dir, id: Args.text({ name: "id or prefix" }) },
  ({ dir, id }) =>
    Effect.gen(function*() {
      const found = yield* findJob(yield* loadState, id)
      yield* Console.log(renderJob(found, yield* nowNanos))
    }).pipe(Effect.provide(storeFor(dir)))
).pipe(Command.withDescription("show one job's changes, commits, test results and reviews"))

const check = Command.make(
  "check",
  { dir },
  ({ dir }) =>
    Effect.gen(function*() {
      // Decode the bytes directly: the store's load would rewrite a file holding legacy prompts.
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const file = path.join(Option.getOrElse(dir, Store.defaultDir), "state.json")
      const bytes = yield* fs.readFile(file).pipe(
        Effect.map(Option.some),
        Effect.catchIf((e) => e._tag === "SystemError" && e.reason === "NotFound", () => Effect.succeed(Option.none())),
        Effect.mapError((e) => new CliFailure({ reason: `cannot read ${file}: ${e.message}` }))
      )
      if (Option.isNone(bytes)) return yield* Console.log(`ok: ${file} does not exist (the empty state)`)
      const state = yield* Schema.decode(bytes.value, { path: file })
      const count = (map: object) => Object.keys(map).length
      yield* Console.log(
        `ok: ${file}: ${count(state.repos)} repos, ${count(state.workspaces)} workspaces, ${
          count(state.opencodeSessions)
        } sessions, ${count(state.jobs)} jobs`
      )
    })
).pipe(Command.withDescription("validate the state file without writing it"))

const repoName = Command.make(
  "repo-name",
  { dir, lockTimeout, path: Args.text({ name: "source path" }) },
  ({ dir, lockTimeout, path }) =>
    Effect.flatMap(Repo.getOrCreateRepoName(path), Console.log).pipe(Effect.provide(storeFor(dir, lockTimeout)))
).pipe(Command.withDescription("print the repo name for a source path, recording it if new"))

const repoFor = Command.make(
  "repo-for",
  { dir, path: Args.text({ name: "workspace path" }) },
  ({ dir, path }) =>
    Repo.repoPathForWorkspace(path).pipe(
      Effect.flatMap(Option.match({
        onNone: () => Effect.fail(new CliFailure({ reason: `not a workspace: ${path}` })),
        onSome: Console.log
      })),
      Effect.provide(storeFor(dir))
    )
).pipe(Command.withDescription("print the source repo of a workspace path"))

/**
 * The root command and its subcommands.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("incrementum-state").pipe(
  Command.withDescription("inspect and check the incrementum state file"),
  Command.withSubcommands([show, job, check, repoName, repoFor])
)

/**
 * Runs the CLI on `process.argv` (the node and script paths come first).
 *
 * @since 0.1.0
 * @category commands
 */
export const run = Command.run(command, { name: "incrementum-state", version: "0.1.0" })
