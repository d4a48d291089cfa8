/**
 * The commands' uses of the store, in a module of their own: the store
 * loads the native flock binding (koffi), which the viewing commands never
 * need, so the binary imports this module only when a command uses it.
 *
 * @since 0.2.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Lock from "../Lock.js"
import * as Repo from "../Repo.js"
import type { StateIoError } from "../StateError.js"
import * as Store from "../Store.js"
import { CliFailure } from "./errors.js"

/**
 * The store's options from `--dir` (resolved already) and `--lock-timeout`.
 *
 * @since 0.2.0
 * @category store
 */
export interface StoreOptions {
  readonly dir: string
  readonly lockTimeoutSeconds: Option.Option<number>
}

/**
 * A store the commands use: the file store (`fileLayer`) or a database's.
 *
 * @since 0.3.0
 * @category store
 */
export type StoreLayer = Layer.Layer<Store.StateStore, StateIoError>

/**
 * The file store at `options.dir`.
 *
 * @since 0.3.0
 * @category store
 */
export const fileLayer = (options: StoreOptions): StoreLayer =>
  Store.layerNode({
    dir: options.dir,
    ...Option.match(options.lockTimeoutSeconds, {
      onNone: () => ({}),
      onSome: (seconds) => ({ lockTimeout: Duration.seconds(seconds) })
    })
  })

/**
 * `Repo.getOrCreateRepoName` on the store `layer`.
 *
 * @since 0.2.0
 * @category store
 */
export const repoName = (layer: StoreLayer, sourcePath: string) =>
  Repo.getOrCreateRepoName(sourcePath).pipe(Effect.provide(layer))

/**
 * `Repo.repoPathForWorkspace` on the store `layer`; fails with
 * `CliFailure` when no workspace is at `workspacePath`.
 *
 * @since 0.2.0
 * @category store
 */
export const repoFor = (layer: StoreLayer, workspacePath: string) =>
  Repo.repoPathForWorkspace(workspacePath).pipe(
    Effect.flatMap(Option.match({
      onNone: () => Effect.fail(new CliFailure({ reason: `not a workspace: ${workspacePath}` })),
      onSome: Effect.succeed
    })),
    Effect.provide(layer)
  )

/**
 * See `Lock.parkedCalls`.
 *
 * @since 0.2.0
 * @category process
 */
export const parkedCalls = Lock.parkedCalls

/**
 * See `Lock.exitImmediately`.
 *
 * @since 0.2.0
 * @category process
 */
export const exitImmediately = Lock.exitImmediately
