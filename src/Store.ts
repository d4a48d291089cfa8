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
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as fileBackend from "./internal/fileBackend.js"
import * as memoryBackend from "./internal/memoryBackend.js"
import * as internal from "./internal/store.js"
import type * as Schema from "./Schema.js"
import type { CorruptStateFile, LockLost, StateError, StateIoError } from "./StateError.js"

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
   * Writes `state` under the lock, skipping the write only when its
   * encoding equals the file's bytes: a file that is not in the Go tool's
   * form (compact, reordered, hand-edited) is rewritten as Go writes it, as
   * Go's `Save` does. Refuses (`CorruptStateFile`) to replace a file that
   * does not decode: a corrupt file is kept for a person to repair. Fails
   * with `InvalidState` (nothing written) for a state the file cannot hold.
   */
  readonly save: (state: Schema.State) => Effect.Effect<void, StateError>

  /**
   * Reads the state under the lock, applies `f`, and writes the result
   * before releasing the lock. Writes nothing when `f` returns the very
   * object it was given (or a state that encodes to the file's bytes). A
   * state the file cannot hold fails with `InvalidState` and writes nothing;
   * an `f` that throws is a defect and writes nothing.
   *
   * Once the new state is in place, the update reports success even if it
   * was interrupted meanwhile: retrying an interrupted update never applies
   * it twice. A failure after that point (the directory fsync) is a
   * `StateIoError` with `committed: true`.
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

  /**
   * Reads the record at `key` of the state's map `map` under the lock,
   * applies `f` to it (`Option.none()` when there is none), and stores the
   * record `f` returns (`Option.none()` removes it) before releasing the
   * lock; `f`'s first element is the result. Writes nothing when `f`
   * returns the record it was given, or one that encodes the same. The
   * record is checked as every write's are: one the file cannot hold fails
   * with `InvalidState`, naming its field, and nothing is written. A failing
   * `f` writes nothing, its error coming out with its own type.
   *
   * What `update` does for a change of one record, at the cost of that
   * record: a backend that stores records (`StorePg`) writes the one row,
   * and the state is not rebuilt (a 10 000-job state's maps are copied only
   * when a state is next asked for). The file store rewrites the file, as
   * any update does. `Job.update` and its kin are built on it.
   */
  readonly modifyRecord: <K extends RecordMap, A, E = never, R = never>(
    map: K,
    key: string,
    f: (record: Option.Option<RecordIn<K>>) => Effect.Effect<readonly [A, Option.Option<RecordIn<K>>], E, R>
  ) => Effect.Effect<A, E | StateError, R>

  /**
   * The state now, then each new state, whoever wrote it (this store, another
   * store in this process, another process, the Go tool): this store's own
   * writes as they land, others' when the backend reports them (see
   * `Backend.watch`; the file store watches the state directory, or polls
   * it). A slow consumer is handed the latest state, never a queue of old
   * ones; the same state is not repeated; the last state always arrives.
   * Ending the stream, or closing its scope, releases what it used (the
   * directory watch).
   *
   * Fails with what `load` fails with, when a change cannot be read: say a
   * corrupt file was renamed in. The stream ends there, releasing the
   * watch; `Stream.retry(schedule)` resumes it, starting again from the
   * state then (the failure repeats, on the schedule, until the file is
   * good again), and `Stream.tapError` lets the consumer see each failure.
   */
  readonly changes: Stream.Stream<Schema.State, StateError>
}

/**
 * The names of the state's four maps of records, as `modifyRecord` takes
 * them: `repos` (keyed by repo name), `workspaces` (by path),
 * `opencodeSessions` and `jobs` (by id).
 *
 * @since 0.2.0
 * @category models
 */
export type RecordMap = "repos" | "workspaces" | "opencodeSessions" | "jobs"

/**
 * The record type of the map `K` (`RecordIn<"jobs">` is `Schema.Job`).
 *
 * @since 0.2.0
 * @category models
 */
export type RecordIn<K extends RecordMap> = Schema.State[K][string]

/**
 * One record a write stores at `key` of map `map`, or removes
 * (`record: undefined`), already checked and normalised.
 *
 * @since 0.2.0
 * @category backend
 */
export interface RecordEdit {
  readonly map: RecordMap
  readonly key: string
  readonly record: object | undefined
}

/**
 * The state store service.
 *
 * @since 0.1.0
 * @category tags
 */
export class StateStore extends Context.Tag("@incrementum/state/StateStore")<StateStore, StateStoreService>() {}

/**
 * What a backend read: the content of the state, and the stamp that
 * identifies this version of it. A backend must never give two different
 * contents the same stamp while the store may still remember the first (the
 * file backend proves this by keeping the file it read open, so its inode
 * cannot be reused).
 *
 * - `Absent`: there is no state yet (the empty state).
 * - `Bytes`: the state file's bytes, which the store decodes.
 * - `Decoded`: a state the backend already holds decoded (say, from rows of
 *   a database, each written by this store): used as it is.
 *
 * @since 0.2.0
 * @category backend
 */
export type Content =
  | { readonly _tag: "Absent"; readonly stamp: string }
  | { readonly _tag: "Bytes"; readonly stamp: string; readonly bytes: Uint8Array }
  | { readonly _tag: "Decoded"; readonly stamp: string; readonly state: Schema.State }

/**
 * A write the store asks a backend to make: the state it replaces (as the
 * store last read it; `bytes` is undefined when there was no state, or when
 * the backend handed over a `Decoded` one) and the new one, already
 * checked and normalised, with its encoding. A backend that stores records
 * separately can compare `previous.state` and `next.state` record by record
 * (unchanged records are the same objects) and write only what changed.
 *
 * @since 0.2.0
 * @category backend
 */
export interface Change {
  readonly previous: { readonly state: Schema.State; readonly bytes: Uint8Array | undefined }
  readonly next: { readonly state: Schema.State; readonly bytes: Uint8Array }
  /**
   * Set when the store knows exactly which records changed (a
   * `modifyRecord`): those edits, in order, and nothing else differs. A
   * backend that stores records then writes them without comparing the
   * states, and should not read `previous.state` or `next.state` unless it
   * needs them: each is built when first read (for a large state, a copy of
   * every map an edit touched).
   */
  readonly records?: ReadonlyArray<RecordEdit>
}

/**
 * The primitives a storage needs to become a `StateStoreService` through
 * `makeWith`. The store owns everything else once, for every backend:
 * decoding, validation and normalisation of every write
 * (`InvalidState`), no-op detection, the legacy-prompt migration, the
 * snapshot cache, and tracing spans.
 *
 * - `read(known)`: the current content, or `undefined` when its stamp is
 *   still `known` (then nothing need be read, and nothing may be acquired
 *   in the `Scope`). Resources that keep the content's stamp valid are
 *   acquired in the `Scope`, which the store closes when it forgets this
 *   content. Must be interruptible: `load` can
 *   be timed out.
 * - `exclusive(body)`: runs `body` holding exclusive access (against every
 *   other writer, in this process and others). The store calls it in an
 *   uninterruptible region, so that a write that landed is always reported;
 *   the backend makes its own waiting interruptible (`Effect.interruptible`)
 *   and must not make `body` interruptible. Fails with `LockTimeout` or
 *   `StateIoError` before `body` starts.
 * - `replace(change)`: called only inside `exclusive`, uninterruptibly;
 *   makes `change.next` the content, durably, and returns its stamp.
 *   Resources that keep the stamp valid go in the `Scope`, as with `read`. It
 *   either fails with nothing changed, or with `committed: true` on the
 *   `StateIoError` when the new content is in place but a later step (the
 *   file backend's directory fsync) failed; `LockLost` when the exclusion
 *   was found gone before the write. Success means committed: a
 *   transactional backend commits inside `replace`, not after `exclusive`.
 *   Once it succeeds, the backend may reuse the memory of
 *   `change.previous.bytes` and of its own previous write (the file backend
 *   does, through a pool, to spare V8's collector): the store only compares
 *   those bytes afterwards, and reused ones read as empty, never as other
 *   content. Every `read` must return bytes of its own.
 * - `path`: where the state lives, for error messages.
 * - `needsBytes` (optional, default `true`): `false` for a backend whose
 *   `replace` does not read `change.next.bytes` because it stores records
 *   of its own (PostgreSQL). The store then checks each state it writes but
 *   does not encode the whole of it; `next.bytes` is encoded only if read.
 * - `watch` (optional): establishes, in the `Scope`, a watch on the content
 *   and returns hints that it may have changed; the store reads (`read`,
 *   with the stamp proof) on each, so a false or repeated hint costs one
 *   unchanged read. It must see every change made after it returns. Without
 *   it, `changes` reports only this store's own writes.
 *
 * @since 0.2.0
 * @category backend
 */
export interface Backend {
  readonly path: string
  readonly read: (known: string | undefined) => Effect.Effect<Content | undefined, StateIoError | CorruptStateFile, Scope.Scope>
  readonly exclusive: <A, E, R>(body: Effect.Effect<A, E, R>) => Effect.Effect<A, E | StateError, R>
  readonly replace: (change: Change) => Effect.Effect<string, StateIoError | LockLost, Scope.Scope>
  readonly watch?: Effect.Effect<Stream.Stream<void, StateIoError>, StateIoError, Scope.Scope>
  readonly needsBytes?: boolean
}

/**
 * Builds the whole store from a backend's primitives (see `Backend`). The
 * scope holds the snapshot of the last content read or written (and what
 * the backend acquired to keep its stamp valid); closing it releases them.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeWith: (backend: Backend) => Effect.Effect<StateStoreService, never, Scope.Scope> = internal.makeWith

/**
 * The file backend alone (see `Backend`): for wrapping it, say to observe
 * its writes, before `makeWith`. The commit step (rename, fstat of the new
 * file, directory fsync) uses Node's synchronous calls, so that nothing can
 * interrupt it half-way; everything else goes through the `FileSystem`
 * given, and the lock needs Node's (see `Lock`). Uses the `Lock.Locks`
 * service if one is provided, else one of its own, closed with the scope.
 *
 * @since 0.2.0
 * @category backend
 */
export const makeFileBackend: (
  options?: Options
) => Effect.Effect<Backend, never, FileSystem.FileSystem | Path.Path | Scope.Scope> = fileBackend.make

/**
 * The memory backend alone (see `Backend`, `layerMemory`): the file's bytes
 * in memory. Its `watch` reports the writes of every store made over it,
 * as stores over one file see each other's. Dies if `initial` is a state
 * the file cannot hold.
 *
 * @since 0.2.0
 * @category backend
 */
export const makeMemoryBackend: (initial?: Schema.State) => Effect.Effect<Backend> = memoryBackend.make

/**
 * Options of the file-backed store.
 *
 * - `dir`: the state directory (default `$HOME/.local/state/incrementum`,
 *   the Go tool's). It is created (mode 0755) on first write.
 * - `lockTimeout`: how long to wait for `state.lock` before failing with
 *   `LockTimeout` (default `Lock.defaultTimeout`, 30 seconds).
 * - `watch`: how `changes` learns of other processes' writes: `mode`
 *   `"watch"` (default) watches the state directory and polls where it
 *   cannot be watched (missing, or a network file system); `"poll"` only
 *   polls. `pollInterval` is how often polling looks (default 1 second);
 *   a watched directory is also checked that often (one `stat`), so one
 *   removed or renamed away and made again is watched again within it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly dir?: string
  readonly lockTimeout?: Duration.DurationInput
  readonly watch?: {
    readonly mode?: "watch" | "poll"
    readonly pollInterval?: Duration.DurationInput
  }
}

/**
 * The default state directory, `$HOME/.local/state/incrementum`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultDir: () => string = fileBackend.defaultDir

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
) => Effect.Effect<StateStoreService, never, FileSystem.FileSystem | Path.Path | Scope.Scope> = (options) =>
  Effect.flatMap(fileBackend.make(options), internal.makeWith)

/**
 * The file-backed store, using the `FileSystem` and `Path` services you
 * provide (a fault-injecting `FileSystem` in tests, say).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<StateStore, never, FileSystem.FileSystem | Path.Path> =>
  Layer.scoped(StateStore, make(options))

/**
 * The file-backed store on Node's file system, ready to use.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNode = (options?: Options): Layer.Layer<StateStore> =>
  layer(options).pipe(Layer.provide(fileBackend.nodeServices))

/**
 * An in-memory store for tests of code that uses the store: the same core
 * over the file's bytes kept in memory, so it checks, normalises, encodes
 * and decodes exactly as the file store does (a state it returns is what
 * another process would read from the file). `initial` is written to it
 * first, as `save` would; an `initial` the file could not hold is a defect
 * of the test, raised when the layer is built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (initial?: Schema.State): Layer.Layer<StateStore> =>
  Layer.scoped(StateStore, Effect.flatMap(memoryBackend.make(initial), internal.makeWith))
