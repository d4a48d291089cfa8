import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import type * as Schema from "../Schema.js"
import type { CorruptStateFile, InvalidState, LockLost, StateError, StateIoError } from "../StateError.js"
import type { Backend, Change, Content, RecordIn, RecordMap, StateStoreService } from "../Store.js"
import * as codec from "./codec.js"
import { unlessInterrupted } from "./interruption.js"

/**
 * What a `BackendNow` call returns when it cannot serve the call at once
 * (the file backend: a state file larger than its limit for blocking
 * calls); the store then makes the effectful call instead.
 */
export const NotNow: unique symbol = Symbol.for("@incrementum/state/Store/NotNow")
export type NotNow = typeof NotNow

/**
 * A backend's `read` and `replace` as synchronous calls, for content small
 * enough to read and write in one step (the file backend: blocking calls
 * for a file of at most 1 MiB). An update of a small state is about a
 * millisecond, and made as Effect steps (a fiber's steps, a scope per
 * snapshot, the calls' wrapping) it cost more than its file calls; with
 * these, the lock is held for the calls and the codec only.
 *
 * - `read(known)`: as `Backend.read`, acquiring nothing (no `Scope`): the
 *   content, `undefined` when its stamp is still `known`, or `NotNow`.
 * - `replace(change)`: as `Backend.replace`, acquiring nothing, under the
 *   same rules (only inside `exclusive`; a `StateIoError` with
 *   `committed: true` when the content is in place but a later step
 *   failed): the new stamp, or `NotNow` having changed nothing.
 *
 * Neither throws: a failure is a `Left`.
 */
export interface BackendNow {
  readonly read: (
    known: string | undefined
  ) => Either.Either<Content | undefined | NotNow, StateIoError | CorruptStateFile>
  readonly replace: (change: Change) => Either.Either<string | NotNow, StateIoError | LockLost>
  /**
   * As `Backend.exclusive`, for a body that is synchronous code: it is
   * called in the step that takes the lock (perhaps a callback, outside any
   * fiber), and when it returns an `Exit` the lock is let go in that step;
   * any other effect it returns runs holding the lock. Spans it starts (a
   * lock wait's) are children of `parent`, the caller's own span: passed,
   * not provided to the fiber, which would cost a copy of its context.
   */
  readonly exclusive: <A, E>(
    body: () => Effect.Effect<A, E>,
    parent: Tracer.AnySpan
  ) => Effect.Effect<A, E | StateError>
}

const synchronous = new WeakMap<Backend, BackendNow>()

/**
 * Gives `backend` synchronous twins of its `read` and `replace`, which
 * `makeWith` tries first, for that very object only: a backend made from
 * it by spreading it (to observe its writes, say; see
 * `Store.makeFileBackend`) has none, so its own `replace` is never
 * bypassed.
 */
export const withNow = (backend: Backend, now: BackendNow): Backend => {
  synchronous.set(backend, now)
  return backend
}

/** What the store last knew of the backend's content. */
interface Snapshot {
  readonly stamp: string
  /** The content's bytes; undefined when there was none, or the backend handed over a decoded state. */
  readonly bytes: Uint8Array | undefined
  readonly state: Schema.State
  readonly hadLegacyPrompt: boolean
  /** Known to be `state`'s encoding (this store wrote it, or compared it): saving `state` again writes nothing. */
  readonly canonical: boolean
  /** Set when `state` is built on demand from a base and the records `modifyRecord` changed since. */
  readonly edited?: Edited
}

/**
 * A state given as a base and the record edits made since, built only when
 * first asked for. A record backend's one-record write then costs the
 * record, not a copy of its map (4 ms for a 10 000-key map here). The edits
 * are capped, so a record is found in a few steps and a run of writes with
 * no read between them builds the state once per `maxEdits` of them.
 */
class Edited {
  static readonly maxEdits = 32
  private built: Schema.State | undefined
  constructor(readonly base: Schema.State, readonly edits: ReadonlyArray<codec.Edit>) {}
  get state(): Schema.State {
    if (this.built === undefined) this.built = codec.withEdits(this.base, this.edits)
    return this.built
  }
  record(map: codec.MapName, key: string): object | undefined {
    if (this.built !== undefined) return recordIn(this.built, map, key)
    for (let i = this.edits.length - 1; i >= 0; i--) {
      const edit = this.edits[i]!
      if (edit.map === map && edit.key === key) return edit.record
    }
    return recordIn(this.base, map, key)
  }
  with(edit: codec.Edit): Edited {
    return this.built !== undefined || this.edits.length >= Edited.maxEdits
      ? new Edited(this.state, [edit])
      : new Edited(this.base, [...this.edits, edit])
  }
}

/** The record at `key`; never one inherited (the maps have no prototype, but a caller's state may). */
const recordIn = (state: Schema.State, map: codec.MapName, key: string): object | undefined => {
  const records: { readonly [key: string]: object } = state[map]
  return Object.hasOwn(records, key) ? records[key] : undefined
}

const notAnOption = "StateStore.modifyRecord: f must return [result, Option.some(record)] to store a record, " +
  "[result, Option.none()] to remove it; it returned something else, and nothing was written"

/** A snapshot of a record write: its state is built when first read. */
const editedSnapshot = (stamp: string, edited: Edited): Snapshot => ({
  stamp,
  bytes: undefined,
  hadLegacyPrompt: false,
  canonical: true,
  edited,
  get state() {
    return edited.state
  }
})

/**
 * A snapshot and the scope holding what keeps its stamp valid (the file
 * backend's open file); none for content read or written by the backend's
 * synchronous calls, which acquire nothing.
 */
interface Held {
  readonly snapshot: Snapshot
  readonly scope: Scope.CloseableScope | undefined
}

// The same array first: a small file is now read on every load, and a re-read of unchanged content is
// remembered with the bytes already announced, which a byte comparison would walk a second time. Never two
// empty arrays: no content the store holds is empty, and bytes the file backend handed back to its pool
// (`BytePool`) read as empty, so they must not equal an empty (truncated) file.
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a === b || (a.length === b.length && a.length > 0 && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b))

/** Runs `effect` in a scope of its own, which is closed if it fails and otherwise handed to the caller. */
const inOwnScope = <A, E, R>(effect: Effect.Effect<A, E, R | Scope.Scope>) =>
  Effect.flatMap(Scope.make(), (scope) =>
    Scope.extend(effect, scope).pipe(
      Effect.onExit((exit) => Exit.isFailure(exit) ? Scope.close(scope, exit) : Effect.void),
      Effect.map((value) => [value, scope] as const)
    ))

/**
 * A checked state whose encoding is made only if someone reads it: for a
 * backend that stores records (`Backend.needsBytes: false`), encoding the
 * whole state for every write would cost more than the write (73 MB for a
 * one-field change of a 10 000-job state).
 */
const encodedOnDemand = (state: Schema.State): codec.Prepared => {
  let bytes: Buffer | undefined
  return {
    state,
    get bytes() {
      if (bytes === undefined) bytes = Either.getOrThrow(codec.prepareWrite(state)).bytes
      return bytes
    }
  }
}

/** `codec.prepareWrite` as an effect (or only its check, when the backend needs no bytes); a throw inside it is a defect. */
const prepare = (state: Schema.State, needsBytes: boolean): Effect.Effect<codec.Prepared, InvalidState> =>
  // An Either is an Effect of its value or its error.
  Effect.suspend(() => needsBytes ? codec.prepareWrite(state) : Either.map(codec.normalize(state), encodedOnDemand))

const spanOptions = { captureStackTrace: false } as const

/** Builds the whole store from a backend's primitives (see `Store.makeWith`). */
export const makeWith = (backend: Backend): Effect.Effect<StateStoreService, never, Scope.Scope> =>
  Effect.gen(function*() {
    const needsBytes = backend.needsBytes !== false
    const now = needsBytes ? synchronous.get(backend) : undefined
    /**
     * The one remembered snapshot. Replaced in a single synchronous step, and
     * the replaced one's scope is closed by a fiber of `closing`, which the
     * store's scope waits for: an interruption can neither lose a handle nor
     * keep two snapshots, and the caller does not wait for a close.
     */
    let held: Held | undefined
    let spare: Scope.CloseableScope | undefined
    const closing = yield* FiberSet.make<void>()
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        const scopes = [held?.scope, spare].filter((scope) => scope !== undefined)
        held = undefined
        spare = undefined
        return Effect.forEach(scopes, (scope) => Scope.close(scope, Exit.void), { discard: true })
      })
    )
    /**
     * Every state the store comes to know, for `changes`. Sliding, one slot:
     * a slow subscriber finds the latest state there, never a backlog, and
     * publishing never waits for a subscriber.
     */
    const published = yield* Effect.acquireRelease(PubSub.sliding<Schema.State>(1), PubSub.shutdown)
    /**
     * Streams of `changes` running: with none, nothing is published, so a
     * record write's state is not built for no one (a stream that starts
     * later loads the state first).
     */
    let subscribers = 0
    const forget = (old: Held | undefined): Effect.Effect<void> =>
      old?.scope === undefined ? Effect.void : Effect.asVoid(FiberSet.run(closing, Scope.close(old.scope, Exit.void)))
    /** Counts `remember`s: a read that another remembered content overtook must not replace it. */
    let generation = 0
    /** The bytes of the state last published (not `held`'s: a decode drops that while it runs). */
    let announcedBytes: Uint8Array | undefined
    /**
     * Swaps `snapshot` in, in the caller's step (a read made in the same
     * step cannot be overtaken by a write before it is remembered); the
     * effect returned closes what the old one held and publishes. Nothing
     * but forking the close and publishing: no interruption can land
     * between the swap and the close.
     */
    const rememberNow = (snapshot: Snapshot, scope: Scope.CloseableScope | undefined): Effect.Effect<Snapshot> => {
      const after = swapIn(snapshot, scope)
      return after === undefined ? Effect.succeed(snapshot) : Effect.as(after, snapshot)
    }
    /**
     * The swap of `rememberNow`; what is left to do after it (closing the
     * old snapshot's scope, publishing) is returned, undefined when nothing
     * is, so that a synchronous update runs no effect for it.
     */
    const swapIn = (snapshot: Snapshot, scope: Scope.CloseableScope | undefined): Effect.Effect<void> | undefined => {
      const old = held
      held = { snapshot, scope }
      generation++
      // A write and a read of that write can both be remembered (the read saw the renamed file before the
      // write was recorded), and two reads of one file: the same content, announced once.
      const announced = announcedBytes !== undefined && snapshot.bytes !== undefined &&
        sameBytes(announcedBytes, snapshot.bytes)
      announcedBytes = snapshot.bytes
      // The state remembered when the publishing runs: a newer one remembered meanwhile (the fiber can
      // yield between these steps) must not be followed by this older one, the last a subscriber sees.
      const publish = announced || subscribers === 0
        ? undefined
        : Effect.suspend(() => PubSub.publish(published, (held?.snapshot ?? snapshot).state))
      if (old?.scope === undefined) return publish
      return publish === undefined ? forget(old) : Effect.zipRight(forget(old), publish)
    }
    const remember = (snapshot: Snapshot, scope: Scope.CloseableScope | undefined): Effect.Effect<Snapshot> =>
      Effect.suspend(() => rememberNow(snapshot, scope))
    const drop = Effect.suspend(() => {
      const old = held
      held = undefined
      return forget(old)
    })

    /**
     * Forgets the snapshot and closes its scope before a write replaces it.
     * The file backend's snapshot file (a large one: it keeps no small file
     * open) is still in place then, so closing it frees nothing and costs no
     * wait, and the rename frees it at once, as every writer's rename does.
     * Closed after the rename instead, the replaced file goes through the
     * file system's orphan list and is freed by the close: an extra journal
     * update per write, which made each fsync of 4 contending processes about
     * 3x slower here (3.5 ms against about 1). A write that then fails has
     * only cost the next read a re-read.
     */
    const letGo = Effect.suspend(() => {
      const old = held
      held = undefined
      return old?.scope === undefined ? Effect.void : Scope.close(old.scope, Exit.void)
    })

    /** The snapshot for freshly read content; `known` is reused when the bytes are the same. */
    const snapshotOf = (content: Content, known: Snapshot | undefined): Either.Either<Snapshot, CorruptStateFile> => {
      switch (content._tag) {
        case "Absent":
          return Either.right({
            stamp: content.stamp,
            bytes: undefined,
            state: codec.emptyState,
            hadLegacyPrompt: false,
            canonical: false
          })
        case "Decoded":
          return Either.right({
            stamp: content.stamp,
            bytes: undefined,
            state: content.state,
            hadLegacyPrompt: false,
            canonical: true
          })
        case "Bytes": {
          if (known?.bytes !== undefined && sameBytes(known.bytes, content.bytes)) {
            return Either.right({ ...known, stamp: content.stamp })
          }
          // The records whose bytes did not change are the known ones, so encode finds them in its cache
          // and a change costs what it changed.
          return Either.map(
            codec.decode(content.bytes, backend.path, known?.state),
            (decoded): Snapshot => ({ stamp: content.stamp, bytes: content.bytes, ...decoded, canonical: false })
          )
        }
      }
    }

    /**
     * `snapshotOf` for content read through the backend's effects, which
     * may be large: the known snapshot is dropped first (its state is kept
     * for the decode, which shares most of its records with the new one;
     * its bytes are not, or a large state would be held twice).
     */
    const decodeContent = (content: Content, known: Snapshot | undefined): Effect.Effect<Snapshot, CorruptStateFile> =>
      // An Either is an Effect of its value or its error.
      Effect.zipRight(content._tag === "Bytes" ? drop : Effect.void, Effect.suspend(() => snapshotOf(content, known)))

    /**
     * A scope that a read found the content unchanged in, and so holds
     * nothing (a backend acquires nothing when it returns no content): the
     * next read reuses it, which spares the common warm load a scope.
     */
    const freshScope = Effect.suspend(() => {
      const scope = spare
      spare = undefined
      return scope === undefined ? Scope.make() : Effect.succeed(scope)
    })

    /** `current` through the backend's effects. */
    const currentThroughEffects: Effect.Effect<Snapshot, CorruptStateFile | StateIoError> = Effect.uninterruptibleMask((restore) => {
      const look: Effect.Effect<Snapshot, CorruptStateFile | StateIoError> = Effect.suspend(() => {
        const known = held?.snapshot
        const started = generation
        return Effect.flatMap(freshScope, (scope) =>
          Effect.matchCauseEffect(restore(Scope.extend(backend.read(known?.stamp), scope)), {
            onFailure: (cause) => Effect.zipRight(Scope.close(scope, Exit.failCause(cause)), Effect.failCause(cause)),
            onSuccess: (content): Effect.Effect<Snapshot, CorruptStateFile | StateIoError> => {
              if (content === undefined && known !== undefined) {
                // Still remembered, so its stamp was valid throughout the read; otherwise look again.
                const next = held?.snapshot === known ? Effect.succeed(known) : look
                if (spare !== undefined) return Effect.zipRight(Scope.close(scope, Exit.void), next)
                spare = scope
                return next
              }
              if (content === undefined) return Effect.dieMessage("backend.read gave no content though none was known")
              return restore(decodeContent(content, known)).pipe(
                Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause))),
                // Content remembered meanwhile (a write, a concurrent read) may be newer than this read's:
                // remembering this one could take the snapshot, and `changes`, backwards. Look again.
                Effect.flatMap((snapshot) =>
                  generation === started ? remember(snapshot, scope) : Effect.zipRight(Scope.close(scope, Exit.void), look)
                )
              )
            }
          }))
      })
      return look
    })

    /**
     * The content now: from memory when the backend says its stamp is
     * unchanged. Read and decoded in one synchronous step when the backend
     * can read now (a small file); otherwise interruptible throughout.
     */
    const current: Effect.Effect<Snapshot, CorruptStateFile | StateIoError> = now === undefined
      ? currentThroughEffects
      : Effect.suspend(() => {
        const read = currentNow(now)
        return read === NotNow ? currentThroughEffects : read
      })

    /**
     * `current` in the caller's step, when the backend can read now: the
     * snapshot, remembered, as an `Exit` when nothing is left to do (then
     * the caller can go on in the same step), or `NotNow`.
     */
    const currentNow = (now: BackendNow): Effect.Effect<Snapshot, CorruptStateFile | StateIoError> | NotNow => {
      const known = held?.snapshot
      const read = now.read(known?.stamp)
      if (Either.isLeft(read)) return Exit.fail(read.left)
      const content = read.right
      if (content === NotNow) return NotNow
      if (content === undefined) {
        return known === undefined ? Effect.dieMessage("backend.now.read gave no content though none was known") : Exit.succeed(known)
      }
      const snapshot = snapshotOf(content, known)
      return Either.isLeft(snapshot) ? Exit.fail(snapshot.left) : rememberNow(snapshot.right, undefined)
    }

    /** Records that `seen`'s bytes are its state's encoding, so that saving that state again costs no encode. */
    const markCanonical = (seen: Snapshot) =>
      Effect.sync(() => {
        if (held !== undefined && held.snapshot === seen) held = { ...held, snapshot: { ...seen, canonical: true } }
      })

    /**
     * Lets the snapshot go, has the backend make `change` the content, and
     * remembers the snapshot `written` makes of the new stamp. Combinators,
     * not a generator, here and in `modifyEffect`: a generator costs a few
     * µs per use, and an update of a small state is about a millisecond.
     */
    const replaceThenRemember = (change: Change, written: (stamp: string) => Snapshot): Effect.Effect<void, StateError> =>
      now === undefined
        ? replaceThroughEffects(change, written)
        // As the effectful write's commit step does: an update interrupted meanwhile writes nothing.
        : unlessInterrupted(() => replaceNowThenRemember(now, change, written))

    /** `replaceThenRemember` with the backend's synchronous write, made in the caller's step when it can be. */
    const replaceNowThenRemember = (
      now: BackendNow,
      change: Change,
      written: (stamp: string) => Snapshot
    ): Effect.Effect<void, StateError> => {
      // A snapshot that holds nothing is let go by forgetting it; one that does is closed first, by the effects.
      if (held?.scope !== undefined) return replaceThroughEffects(change, written)
      held = undefined
      const replaced = now.replace(change)
      if (Either.isLeft(replaced)) return Exit.fail(replaced.left)
      if (replaced.right === NotNow) return replaceThroughEffects(change, written)
      return swapIn(written(replaced.right), undefined) ?? Exit.void
    }

    /** `replaceThenRemember` through the backend's effects. */
    const replaceThroughEffects = (change: Change, written: (stamp: string) => Snapshot): Effect.Effect<void, StateError> =>
      letGo.pipe(
        // `change` as it is: its states and bytes may be built on demand. The replace is made once the snapshot is let go.
        Effect.zipRight(Effect.suspend(() => inOwnScope(backend.replace(change)))),
        Effect.flatMap(([stamp, scope]) => remember(written(stamp), scope)),
        Effect.asVoid
      )

    /** Writes `prepared` unless the content already has its bytes. Runs uninterruptibly, inside `exclusive`. */
    const commit = (
      seen: Snapshot,
      prepared: codec.Prepared,
      records?: ReadonlyArray<codec.Edit>,
      write: (change: Change, written: (stamp: string) => Snapshot) => Effect.Effect<void, StateError> =
        replaceThenRemember
    ): Effect.Effect<void, StateError> => {
      const unchanged = needsBytes
        ? seen.bytes !== undefined && sameBytes(seen.bytes, prepared.bytes)
        : seen.canonical && codec.sameEncoding(seen.state, prepared.state)
      if (unchanged) return prepared.state === seen.state ? markCanonical(seen) : Effect.void
      return write(
        {
          previous: { state: seen.state, bytes: seen.bytes },
          next: prepared,
          ...(records === undefined ? {} : { records })
        },
        (stamp) => ({
          stamp,
          bytes: needsBytes ? prepared.bytes : undefined,
          state: prepared.state,
          hadLegacyPrompt: false,
          canonical: true
        })
      )
    }

    /**
     * Everything after `f` is uninterruptible, so an update that reached its
     * backend's point of no return is finished and reported; only the waits
     * (the lock, the read, `f`) can be interrupted.
     */
    const modifyEffect = <A, E, R>(f: (state: Schema.State) => Effect.Effect<readonly [A, Schema.State], E, R>) =>
      Effect.uninterruptibleMask((restore) => backend.exclusive(modifyHeld(restore, current, f)))

    /** The body of `modifyEffect`, run holding the lock, reading the content with `read`. */
    const modifyHeld = <A, E, R>(
      restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>,
      read: Effect.Effect<Snapshot, StateError>,
      f: (state: Schema.State) => Effect.Effect<readonly [A, Schema.State], E, R>
    ): Effect.Effect<A, E | StateError, R> =>
      Effect.flatMap(restore(read), (seen) =>
        Effect.flatMap(restore(Effect.suspend(() => f(seen.state))), ([result, next]) =>
          next !== seen.state || seen.hadLegacyPrompt
            ? Effect.as(Effect.flatMap(prepare(next, needsBytes), (prepared) => commit(seen, prepared)), result)
            : Effect.succeed(result)))

    /**
     * `modifyEffect` for a synchronous `f` (`update`, `modify`). When the
     * backend can read and write now (a small file), the read, `f`, the
     * encode and the write are one synchronous step under the lock: the
     * lock is held for the file calls and the codec, not for a fiber's
     * steps between them (about 80 µs of a contended update here). `f`
     * runs exactly once: a write that cannot be made now after `f` ran is
     * made through the effects.
     *
     * Traced as `name`, a span passed to the backend for its lock wait's
     * span rather than provided to the fiber (as `Effect.withSpan` would):
     * providing it copies the fiber's context, 10 µs of an update here, and
     * 20 to 30 under contention, on the two CPUs the lock holder needs.
     */
    const modifySync = <A>(
      name: string,
      f: (state: Schema.State) => readonly [A, Schema.State]
    ): Effect.Effect<A, StateError> => {
      const effectful = (state: Schema.State) => Effect.sync(() => f(state))
      if (now === undefined) return Effect.withSpan(modifyEffect(effectful), name, spanOptions)
      return Effect.useSpan(name, spanOptions, (span) =>
        Effect.uninterruptibleMask((restore) =>
          now.exclusive(() => {
            const read = currentNow(now)
            if (read === NotNow) return Effect.withParentSpan(modifyHeld(restore, currentThroughEffects, effectful), span)
            // Read and remembered with nothing left to do (the usual case): go on in this step.
            if (Exit.isExit(read)) {
              const done = read as Exit.Exit<Snapshot, CorruptStateFile | StateIoError>
              return Exit.isSuccess(done) ? writeNow(now, done.value, f) : Exit.failCause(done.cause)
            }
            return Effect.flatMap(read, (seen) => unlessInterrupted(() => writeNow(now, seen, f)))
          }, span)
        ))
    }

    /** The rest of `modifySync`: `f`, the check and encode, and the write, in the caller's step when the backend can. */
    const writeNow = <A>(
      now: BackendNow,
      seen: Snapshot,
      f: (state: Schema.State) => readonly [A, Schema.State]
    ): Effect.Effect<A, StateError> => {
      let returned: readonly [A, Schema.State]
      try {
        returned = f(seen.state)
      } catch (defect) {
        // As `Effect.sync` would: a throw from `f` is a defect, and nothing is written.
        return Effect.die(defect)
      }
      const [result, next] = returned
      if (next === seen.state && !seen.hadLegacyPrompt) return Exit.succeed(result)
      const prepared = codec.prepareWrite(next)
      if (Either.isLeft(prepared)) return Exit.fail(prepared.left)
      const written = commit(seen, prepared.right, undefined, (change, written) => replaceNowThenRemember(now, change, written))
      return Exit.isExit(written) && Exit.isSuccess(written) ? Exit.succeed(result) : Effect.as(written, result)
    }

    /**
     * Writes one record edit. A backend that needs the state's bytes gets the
     * state with the edit applied, as `update` would hand it over; a record
     * backend gets the edit (`Change.records`) and states built only if it
     * reads them, and the snapshot keeps the edit pending.
     */
    const commitEdit = (seen: Snapshot, edit: codec.Edit): Effect.Effect<void, StateError> => {
      if (needsBytes || seen.hadLegacyPrompt) {
        return Effect.flatMap(
          prepare(codec.withEdits(seen.state, [edit]), needsBytes),
          (prepared) => commit(seen, prepared, [edit])
        )
      }
      const edited = (seen.edited ?? new Edited(seen.state, [])).with(edit)
      let bytes: Buffer | undefined
      const next = {
        get state() {
          return edited.state
        },
        get bytes() {
          if (bytes === undefined) bytes = codec.encodeBytes(edited.state)
          return bytes
        }
      }
      const previous = {
        get state() {
          return seen.state
        },
        bytes: seen.bytes
      }
      return replaceThenRemember({ previous, next, records: [edit] }, (stamp) => editedSnapshot(stamp, edited))
    }

    /** As `modifyEffect`, for one record: no state is built unless the backend needs one. */
    const modifyRecord = <K extends RecordMap, A, E, R>(
      map: K,
      key: string,
      f: (record: Option.Option<RecordIn<K>>) => Effect.Effect<readonly [A, Option.Option<RecordIn<K>>], E, R>
    ): Effect.Effect<A, E | StateError, R> => {
      // Refused before the lock is waited for: the types allow no other map or key, but a caller in plain
      // JavaScript can pass anything.
      const refused = codec.checkRecordAddress(map, key)
      if (refused !== undefined) return Effect.fail(refused)
      return Effect.uninterruptibleMask((restore) =>
        backend.exclusive(Effect.flatMap(restore(current), (seen) => {
          const before = seen.edited === undefined ? recordIn(seen.state, map, key) : seen.edited.record(map, key)
          return Effect.flatMap(
            restore(Effect.suspend(() => f(Option.fromNullable(before as RecordIn<K> | undefined)))),
            ([result, next]): Effect.Effect<A, StateError> => {
              // A bare record, not in an Option, would otherwise read as "remove it".
              if (!Option.isOption(next)) return Effect.dieMessage(notAnOption)
              let record: object | undefined
              if (Option.isNone(next)) {
                if (before === undefined && !seen.hadLegacyPrompt) return Effect.succeed(result)
              } else {
                if (next.value === before && !seen.hadLegacyPrompt) return Effect.succeed(result)
                const checked = codec.normalizeEntry(map, key, next.value)
                if (Either.isLeft(checked)) return Effect.fail(checked.left)
                record = checked.right
              }
              // The stored record's encoding: nothing to write. (A state not in the stored form, say a file a
              // person reformatted, is rewritten by the state path, which compares whole encodings.)
              const same = record === before ||
                (record !== undefined && before !== undefined && codec.sameEntry(map, before, record))
              if (same && seen.canonical && !seen.hadLegacyPrompt) return Effect.succeed(result)
              return Effect.as(commitEdit(seen, { map, key, record }), result)
            }
          )
        }))
      )
    }

    const load = Effect.flatMap(current, (seen) =>
      seen.hadLegacyPrompt
        // Go rewrites without the lock, which can clobber a concurrent update; this rewrite holds it.
        ? Effect.zipRight(
          modifyEffect((state) => Effect.succeed([undefined, state] as const)),
          Effect.map(current, (rewritten) => rewritten.state)
        )
        : Effect.succeed(seen.state)).pipe(Effect.withSpan("StateStore.load"))

    /**
     * Subscribes, then establishes the backend's watch, then loads: a state
     * that lands after any of these steps is published or hinted, so none is
     * missed. A load on a hint publishes through `remember`, so the one
     * subscription carries this store's writes and others' alike.
     */
    const changes: Stream.Stream<Schema.State, StateError> = Stream.unwrapScoped(Effect.gen(function*() {
      yield* Effect.acquireRelease(Effect.sync(() => subscribers++), () => Effect.sync(() => subscribers--))
      const subscription = yield* PubSub.subscribe(published)
      const hints = backend.watch === undefined ? Stream.never : yield* backend.watch
      const first = yield* load
      const reloads = hints.pipe(Stream.mapEffect(() => load), Stream.drain)
      return Stream.succeed(first).pipe(
        Stream.concat(Stream.merge(Stream.fromQueue(subscription), reloads, { haltStrategy: "either" })),
        Stream.changesWith((a, b) => a === b)
      )
    })).pipe(Stream.withSpan("StateStore.changes"))

    // Each operation is a span, as `Effect.fn(name)` makes, but without the call site's stack trace: capturing
    // one (`new Error()` per call) cost about 50 µs of an update that takes about 500 µs here.
    const service: StateStoreService = {
      load,
      save: (state) =>
        Effect.withSpan(
          Effect.uninterruptibleMask((restore) =>
            backend.exclusive(Effect.gen(function*() {
              const seen = yield* restore(current)
              // The state the content decodes to, already in the form it is written in, and frozen (so not
              // mutated in place since): nothing to do, not even an encode.
              if (state === seen.state && seen.canonical && Object.isFrozen(state)) return
              yield* commit(seen, yield* prepare(state, needsBytes))
            }))
          ),
          "StateStore.save",
          spanOptions
        ),
      update: (f) => modifySync("StateStore.update", (state) => [undefined, f(state)] as const),
      updateEffect: (f) =>
        Effect.withSpan(
          modifyEffect((state) => Effect.map(f(state), (next) => [undefined, next] as const)),
          "StateStore.updateEffect",
          spanOptions
        ),
      modify: (f) => modifySync("StateStore.modify", f),
      modifyEffect: (f) => Effect.withSpan(modifyEffect(f), "StateStore.modifyEffect", spanOptions),
      modifyRecord: (map, key, f) => Effect.withSpan(modifyRecord(map, key, f), "StateStore.modifyRecord", spanOptions),
      changes
    }
    return service
  })
