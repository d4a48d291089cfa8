/**
 * The `StateStore` service: the state file as a flock-guarded,
 * SynchronizedRef-style store shared with every other incrementum process.
 *
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/store.js"
import type * as Schema from "./Schema.js"
import type { StateError } from "./StateError.js"

/**
 * The store's operations. Every write happens under the exclusive flock on
 * `state.lock` and replaces `state.json` atomically (temp file, fsync,
 * rename, directory fsync), so a crash at any instant leaves either the old
 * or the new file, and no concurrent update (from this process, another
 * Node process or the Go tool) is lost.
 *
 * @since 0.1.0
 * @category models
 */
export interface StateStoreService {
  /**
   * The current state; an absent file is the empty state. Needs no lock
   * (writers rename whole files into place). An unchanged file is neither
   * re-read nor re-decoded. A file still holding legacy session prompts is
   * rewritten without them, under the lock, before the state is returned.
   * Fails with `CorruptStateFile` (the file is left as it is) or
   * `StateIoError`; `LockTimeout` only during that legacy rewrite.
   */
  readonly load: Effect.Effect<Schema.State, StateError>

  /**
   * Writes `state` under the lock, skipping the write when the bytes equal
   * the file's. Refuses (`CorruptStateFile`) to replace a file that does not
   * decode: a corrupt file is kept for a person to repair.
   */
  readonly save: (state: Schema.State) => Effect.Effect<void, StateError>

  /**
   * Reads the state under the lock, applies `f`, and writes the result
   * before releasing the lock. Writes nothing when `f` returns the state it
   * was given.
   */
  readonly update: (f: (state: Schema.State) => Schema.State) => Effect.Effect<void, StateError>

  /**
   * `update` with an effectful `f`. If `f` fails, the file is untouched and
   * `f`'s error comes out with its own type. The lock is held while `f`
   * runs, so keep `f` short.
   */
  readonly updateEffect: <E, R>(
    f: (state: Schema.State) => Effect.Effect<Schema.State, E, R>
  ) => Effect.Effect<void, E | StateError, R>

  /**
   * `update` that also returns a result: `f` returns `[result, newState]`.
   */
  readonly modify: <A>(f: (state: Schema.State) => readonly [A, Schema.State]) => Effect.Effect<A, StateError>

  /**
   * `modify` with an effectful `f`; as with `updateEffect`, a failing `f`
   * leaves the file untouched.
   */
  readonly modifyEffect: <A, E, R>(
    f: (state: Schema.State) => Effect.Effect<readonly [A, Schema.State], E, R>
  ) => Effect.Effect<A, E | StateError, R>
}

/**
 * The state store service.
 *
 * @since 0.1.0
 * @category tags
 */
export class StateStore extends Context.Tag("@incrementum/state/StateStore")<StateStore, StateStoreService>() {}

/**
 * Options of the file-backed store.
 *
 * - `dir`: the state directory (default `$HOME/.local/state/incrementum`,
 *   the Go tool's). It is created (mode 0755) on first write.
 * - `lockTimeout`: how long to wait for `state.lock` before failing with
 *   `LockTimeout` (default `Lock.defaultTimeout`, 30 seconds).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly dir?: string
  readonly lockTimeout?: Duration.DurationInput
}

/**
 * The default state directory, `$HOME/.local/state/incrementum`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultDir: () => string = internal.defaultDir

/**
 * Builds a file-backed store. Fails with nothing: the directory and files
 * are touched only by the operations. The scope keeps open the one file
 * handle the store uses to know the file unchanged; closing it releases it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options?: Options
) => Effect.Effect<StateStoreService, never, FileSystem.FileSystem | Path.Path | Scope.Scope> = internal.make

/**
 * The file-backed store, using the `FileSystem` and `Path` services you
 * provide (a fault-injecting `FileSystem` in tests, say).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<StateStore, never, FileSystem.FileSystem | Path.Path> =>
  Layer.scoped(StateStore, internal.make(options))

/**
 * The file-backed store on Node's file system, ready to use.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNode = (options?: Options): Layer.Layer<StateStore> =>
  layer(options).pipe(Layer.provide(internal.nodeServices))

/**
 * An in-memory store with the same semantics and no disk: updates are
 * serialized, a failing update leaves the state untouched, unchanged
 * states are not "written". For tests of code that uses the store.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (initial?: Schema.State): Layer.Layer<StateStore> =>
  Layer.effect(StateStore, internal.makeMemory(initial))
