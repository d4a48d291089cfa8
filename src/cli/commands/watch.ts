/**
 * `incrementum-state watch`: the state's events as they happen.
 *
 * @since 0.3.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Path from "@effect/platform/Path"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type * as Schema from "../../Schema.js"
import * as StateEvent from "../../StateEvent.js"
import * as Help from "../help.js"
import * as CliOptions from "../options.js"
import * as Read from "../read.js"
import * as Source from "../source.js"

/**
 * One line for a person: what happened, to what.
 *
 * @since 0.3.0
 * @category rendering
 */
export const renderEvent = (event: StateEvent.StateEvent): string => {
  switch (event._tag) {
    case "JobCreated":
      return `job ${event.jobId} created in ${event.repo} (${event.stage}, ${event.status}) todo ${event.todoId}`
    case "JobStageChanged":
      return `job ${event.jobId} stage ${event.from} -> ${event.to}`
    case "JobStatusChanged":
      return `job ${event.jobId} status ${event.from} -> ${event.to}`
    case "ChangeAdded":
      return `job ${event.jobId} change ${event.changeId} added`
    case "CommitAdded":
      return `job ${event.jobId} commit ${event.commitId} on change ${event.changeId}`
    case "TestsRecorded":
      return `job ${event.jobId} tests ${event.passed ? "passed" : "failed"} on commit ${event.commitId}`
    case "JobSessionAdded":
      return `job ${event.jobId} session ${event.sessionId} started for ${event.purpose}`
    case "ReviewRecorded":
      return `job ${event.jobId} review ${event.outcome} ${
        event.commitId === undefined ? "of the project" : `of commit ${event.commitId}`
      }`
    case "JobCompleted":
      return `job ${event.jobId} finished ${event.status}`
    case "WorkspaceAcquired":
      return `workspace ${event.key} acquired${event.pid === undefined ? "" : ` by pid ${event.pid}`}${
        event.purpose === undefined ? "" : ` for ${event.purpose}`
      }`
    case "WorkspaceReleased":
      return `workspace ${event.key} released`
    case "SessionStarted":
      return `session ${event.key} started`
    case "SessionEnded":
      return `session ${event.key} ended${event.status === undefined ? "" : ` ${event.status}`}${
        event.exitCode === undefined ? "" : ` (exit ${event.exitCode})`
      }`
    case "SessionStatusChanged":
      return `session ${event.key} ${event.from === undefined ? "recorded" : `status ${event.from} ->`} ${event.to}`
    case "RepoAdded":
      return `repo ${event.name} added (${event.sourcePath})`
  }
}

/** `--repo` matches a repo's name, or its source path (resolved against the working directory). */
const repoFilter = (wanted: Option.Option<string>, path: Path.Path) => {
  if (Option.isNone(wanted)) return () => true
  const asPath = path.resolve(wanted.value)
  return (repo: string, state: Schema.State) => {
    if (repo === wanted.value) return true
    const source = state.repos[repo]?.sourcePath
    return source !== undefined && source !== "" && path.resolve(source) === asPath
  }
}

/**
 * `watch [--dir DIR | --url URL] [--json] [--job ID] [--repo R]`: one line per event
 * (see `StateEvent`) as other processes and this machine's tools change
 * the state, until interrupted (Ctrl-C exits 0). A state file that cannot
 * be read (say a corrupt one renamed in) is reported on stderr and watched
 * on: the events resume, measured from the last good state, once the file
 * is good again. Never writes.
 *
 * @since 0.3.0
 * @category commands
 */
export const spec = Help.make({
  summary: "print the state's events (jobs, workspaces, sessions, repos) as they happen, until Ctrl-C; never writes",
  examples: [
    ["incrementum-state watch", "every event, one line each"],
    ["incrementum-state watch --job k3", "what happens to the job whose id starts with k3"],
    ["incrementum-state watch --repo . --json", "this repo's events as JSON lines"]
  ],
  command: Command.make(
    "watch",
    {
      dir: CliOptions.dir,
      url: CliOptions.url,
      json: CliOptions.json("print each event as a line of JSON (with its _tag) instead of text"),
      job: Options.text("job").pipe(
        Options.withPseudoName("ID"),
        Options.withDescription("only events of jobs whose id is, or starts with, ID"),
        Options.optional
      ),
      repo: Options.text("repo").pipe(
        Options.withPseudoName("REPO"),
        Options.withDescription("only events of the repo with this name or source path (--repo . in a repo's root)"),
        Options.optional
      )
    },
    ({ dir, job, json, repo, url }) =>
      Effect.gen(function*() {
        const database = yield* Source.urlOf("watch", { dir, url })
        const stateDir = Option.isNone(database) ? yield* Read.stateDirectory(dir) : ""
        const repoMatches = repoFilter(repo, yield* Path.Path)
        const jobMatches = (event: StateEvent.StateEvent) => {
          if (Option.isNone(job)) return true
          const id = StateEvent.jobId(event)
          return id !== undefined && id.startsWith(job.value)
        }
        const store = Option.isSome(database)
          ? yield* (yield* Source.pgModule).store(database.value)
          // The store loads the native lock binding: only this command needs it.
          : yield* (yield* Effect.promise(() => import("../../Store.js"))).make({ dir: stateDir })
        const line = json
          ? (event: StateEvent.StateEvent) => JSON.stringify(StateEvent.encode(event))
          : renderEvent
        // Said once per spell of bad file, not once a retry.
        let failing = false
        yield* store.changes.pipe(
          Stream.tap(() => Effect.sync(() => (failing = false))),
          // A bad file is a line on stderr, and the watch goes on; the diff below spans the gap.
          Stream.tapError((error) =>
            failing ? Effect.void : Effect.zipRight(
              Effect.sync(() => (failing = true)),
              Console.error(`${Help.programName}: ${error.message} (watching on)`)
            )
          ),
          Stream.retry(Schedule.spaced("1 second")),
          Stream.mapAccum(undefined as Schema.State | undefined, (previous, state) =>
            [
              state,
              previous === undefined ? [] : StateEvent.diff(previous, state).filter((event) =>
                jobMatches(event) && repoMatches(StateEvent.repo(event), state)
              )
            ] as const),
          Stream.mapConcat((events) => events),
          Stream.runForEach((event) => Console.log(line(event)))
        )
      }).pipe(Effect.scoped)
  )
})
