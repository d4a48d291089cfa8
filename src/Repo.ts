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
 * The name `getOrCreateRepoName` records for a path that sanitizes to
 * nothing (`/`, `~`, `!!!`), followed by `repo-2`, `repo-3`, … Go would
 * record the empty string, which is no usable name: workspace keys would
 * start with `/` and a command line could not pass it.
 *
 * @since 0.1.0
 * @category constants
 */
export const fallbackName = "repo"

/**
 * Turns a path into a repo name exactly as the Go tool's
 * `SanitizeRepoName` does: a leading `~/` is expanded with the current
 * user's home directory (`os.homedir()`, which reads `$HOME` first, as Go's
 * `os.UserHomeDir` does), one leading `/` is dropped, the rest is
 * lower-cased, `/` and spaces become `-`, everything outside `[a-z0-9-]` is
 * dropped, and runs of `-` are collapsed and trimmed. Pure; never fails.
 * May return `""` (for `/`, `~`, `!!!`); `getOrCreateRepoName` never does.
 *
 * @since 0.1.0
 * @category naming
 */
export const sanitizeRepoName = (path: string): string => sanitize(path, os.homedir())

/**
 * The name of the repo whose source is `sourcePath`, recording a new repo
 * if there is none.
 *
 * - A repo already recorded with exactly this source path keeps its name.
 * - Otherwise the repo is recorded (`repos[name] = { sourcePath }`) under
 *   `sanitizeRepoName(sourcePath)`, or `fallbackName` when that is empty,
 *   or the first free of `<name>-2`, `<name>-3`, … when the name is taken.
 *
 * The path is compared and stored exactly as given, not cleaned or
 * resolved: that is what the Go tool does, and a name must not change
 * depending on which tool recorded it. So `/src/app` and `/src/app/` are
 * two repos: pass one canonical spelling (an absolute repo root, say).
 *
 * It is a single `StateStore.modify`, so the look-up and the record happen
 * under one hold of the lock: concurrent callers in any process (this
 * library or the Go tool) get the same name for the same path. When the
 * repo exists the state is returned unchanged and nothing is written.
 * Fails with the store's errors (`CorruptStateFile`, `StateIoError`,
 * `LockTimeout`).
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
    // Keep the map prototype-free, as decode makes it: keys such as "constructor" stay plain data.
    const repos: Record<string, StateSchema.RepoInfo> = Object.assign(Object.create(null), state.repos)
    repos[name] = { sourcePath }
    return [name, { ...state, repos }]
  })
})

/**
 * The source path of the repo that owns the workspace at `workspacePath`.
 * Paths are compared after `filepath.Clean` on both sides (`/a//b/../c/`
 * is `/a/c`), but not resolved: symlinks and relative paths are not
 * followed. `None` when no workspace is at that path. Fails with
 * `RepoSourceMissing` when one is but its repo has no entry in `repos`, or
 * an empty source path, and with the store's errors. Reads only (the
 * store's `load`).
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
