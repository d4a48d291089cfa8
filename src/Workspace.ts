/**
 * Workspaces: building them with Go's zero values, their keys, and a
 * store-level update of one workspace.
 *
 * `make` throws, as `Schema.Struct(...).make` does: it builds records from
 * values written in code, where a bad value is a bug to fix (see `Job`).
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type * as Option from "effect/Option"
import * as records from "./internal/records.js"
import * as Schema from "./Schema.js"
import type { NotFound, StateError } from "./StateError.js"
import type { StateStore } from "./Store.js"
import * as Timestamp from "./Timestamp.js"

/**
 * What `make` needs: `name`, `repo` and `path`, and any other field of
 * `Schema.WorkspaceInfo` to set.
 *
 * @since 0.2.0
 * @category models
 */
export type MakeInput = records.MakeInput<Schema.WorkspaceInfo, "name" | "repo" | "path">

/**
 * A workspace with Go's zero values for every field not given: status `""`,
 * `Timestamp.zero` for every time, `provisioned` false, and no `purpose`,
 * `rev` or `acquiredByPid`. Throws a `ParseError` naming each invalid field.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: (input: MakeInput) => Schema.WorkspaceInfo = records.constructor<
  Schema.WorkspaceInfo,
  "name" | "repo" | "path"
>(Schema.WorkspaceInfo, {
  status: "",
  createdAt: Timestamp.zero,
  updatedAt: Timestamp.zero,
  acquiredAt: Timestamp.zero,
  provisioned: false
})

/**
 * The workspace's key in `state.workspaces`: `"<repo>/<name>"`.
 *
 * @since 0.2.0
 * @category getters
 */
export const key = (workspace: { readonly repo: string; readonly name: string }): string =>
  `${workspace.repo}/${workspace.name}`

/**
 * The workspace stored under `key` (`"<repo>/<name>"`), if any.
 *
 * @since 0.2.0
 * @category getters
 */
export const get: {
  (key: string): (state: Schema.State) => Option.Option<Schema.WorkspaceInfo>
  (state: Schema.State, key: string): Option.Option<Schema.WorkspaceInfo>
} = dual(2, (state: Schema.State, key: string) => records.get(state, "workspaces", key))

/**
 * The state with `workspace` stored under its key, replacing any workspace
 * there. For building states (a test's seed, say); `update` edits a stored
 * workspace.
 *
 * @since 0.2.0
 * @category combinators
 */
export const put: {
  (workspace: Schema.WorkspaceInfo): (state: Schema.State) => Schema.State
  (state: Schema.State, workspace: Schema.WorkspaceInfo): Schema.State
} = dual(
  2,
  (state: Schema.State, workspace: Schema.WorkspaceInfo) => records.put(state, "workspaces", key(workspace), workspace)
)

/**
 * Updates the workspace stored under `key` (`"<repo>/<name>"`) in one
 * `StateStore.modifyRecord` and returns it as written, stamping `updatedAt` with
 * `Timestamp.now` when `f` changed the workspace but not its `updatedAt`;
 * nothing is written when `f` returns the workspace it was given. Fails with
 * `NotFound` (writing nothing) when there is no such workspace, or with the
 * store's `StateError`. `f` must keep the workspace's `repo` and `name`.
 *
 * @since 0.2.0
 * @category store
 */
export const update = (
  key: string,
  f: (workspace: Schema.WorkspaceInfo) => Schema.WorkspaceInfo
): Effect.Effect<Schema.WorkspaceInfo, NotFound | StateError, StateStore> =>
  records.updateEffect("workspaces", key, (workspace) => Effect.sync(() => f(workspace))).pipe(
    Effect.withSpan("Workspace.update")
  )

/**
 * `update` with an effectful `f`; when `f` fails, nothing is written and its
 * error comes out with its own type.
 *
 * @since 0.2.0
 * @category store
 */
export const updateEffect = <E, R>(
  key: string,
  f: (workspace: Schema.WorkspaceInfo) => Effect.Effect<Schema.WorkspaceInfo, E, R>
): Effect.Effect<Schema.WorkspaceInfo, E | NotFound | StateError, R | StateStore> =>
  records.updateEffect("workspaces", key, f).pipe(Effect.withSpan("Workspace.updateEffect"))
