/**
 * Repo naming and workspace resolution, as the Go tool does them, over the
 * `StateStore`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as os from "node:os"
import { cleanPath, sanitizeRepoName as sanitize } from "./internal/sanitize.js"
import type * as StateSchema from "./Schema.js"
import type { StateError } from "./StateError.js"
import { StateStore } from "./Store.js"

/**
 * A workspace at the given path is tracked, but the repo it belongs to has
 * no entry in `repos`, or an empty source path: the state is inconsistent
 * (hand edits, or a repo entry removed while its workspaces remained).
 *
 * @since 0.1.0
 * @category errors
 */
export class RepoSourceMissing extends Schema.TaggedError<RepoSourceMissing>("@incrementum/state/RepoSourceMissing")(
  "RepoSourceMissing",
  {
    workspacePath: Schema.String,
    repo: Schema.String
  }
) {
  override get message(): string {
    return `workspace ${this.workspacePath} belongs to repo ${JSON.stringify(this.repo)}, which has no source path`
  }
}

/**
 * The name used for a path that sanitizes to nothing (`/`, `~`, `!!!`).
 * Go would use the empty string there, which no command can name.
 *
 * @since 0.1.0
 * @category constants
 */
export const fallbackName = "repo"

/**
 * Turns a path into a repo name exactly as the Go tool's
 * `SanitizeRepoName` does (a leading `~/` is the current user's home
 * directory). May return `""`; `getOrCreateRepoName` never does.
 *
 * @since 0.1.0
 * @category naming
 */
export const sanitizeRepoName = (path: string): string => sanitize(path, os.homedir())

/**
 * The name of the repo whose source is `sourcePath`, compared exactly as
 * given (as Go does; pass the same spelling each time). If no repo has that
 * source path, records one under the sanitized name, or `<name>-2`,
 * `<name>-3`, … when taken, and returns it. One store update: concurrent
 * callers, in any process, get the same name. Writes nothing when the
 * repo exists.
 *
 * @since 0.1.0
 * @category naming
 */
export const getOrCreateRepoName: (sourcePath: string) => Effect.Effect<string, StateError, StateStore> = Effect.fn(
  "Repo.getOrCreateRepoName"
)(function*(sourcePath: string) {
  const store = yield* StateStore
  return yield* store.modify((state): readonly [string, StateSchema.State] => {
    // Sorted, so that a path recorded under several names always gets the same one.
    const existing = Object.keys(state.repos).sort().find((name) => state.repos[name]!.sourcePath === sourcePath)
    if (existing !== undefined) return [existing, state]
    const base = sanitizeRepoName(sourcePath) || fallbackName
    let name = base
    for (let suffix = 2; Object.hasOwn(state.repos, name); suffix++) name = `${base}-${suffix}`
    return [name, { ...state, repos: { ...state.repos, [name]: { sourcePath } } }]
  })
})

/**
 * The source path of the repo that owns the workspace at `workspacePath`
 * (paths are compared cleaned: `a//b/../c/` is `a/c`). `None` when no
 * workspace is at that path; fails with `RepoSourceMissing` when one is but
 * its repo has no source path.
 *
 * @since 0.1.0
 * @category workspaces
 */
export const repoPathForWorkspace: (
  workspacePath: string
) => Effect.Effect<Option.Option<string>, StateError | RepoSourceMissing, StateStore> = Effect.fn(
  "Repo.repoPathForWorkspace"
)(function*(workspacePath: string) {
  const state = yield* Effect.flatMap(StateStore, (store) => store.load)
  const wanted = cleanPath(workspacePath)
  for (const key of Object.keys(state.workspaces).sort()) {
    const workspace = state.workspaces[key]!
    if (cleanPath(workspace.path) !== wanted) continue
    const source = Object.hasOwn(state.repos, workspace.repo) ? state.repos[workspace.repo]!.sourcePath : undefined
    if (source === undefined || source === "") {
      return yield* new RepoSourceMissing({ workspacePath, repo: workspace.repo })
    }
    return Option.some(source)
  }
  return Option.none()
})
