import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Scope from "effect/Scope"
import * as os from "node:os"
import * as Lock from "../Lock.js"
import type * as Schema from "../Schema.js"
import type { StateStoreService } from "../Store.js"
import { CorruptStateFile, type StateError, StateIoError } from "../StateError.js"
import * as codec from "./codec.js"

/** `$HOME/.local/state/incrementum`, the Go tool's default. */
export const defaultDir = (): string => `${os.homedir()}/.local/state/incrementum`

/** Node's FileSystem and Path, for `layerNode`. */
export const nodeServices = Layer.merge(NodeFileSystem.layer, NodePath.layer)

const TEMP_FILE = /^state\.json\.tmp\d+$/

const staleTempScanMillis = 10_000

/**
 * What this process last knew of the file.
 *
 * The snapshot keeps the file it was read from (or written as) open. While
 * that handle is open the inode cannot be freed, so its number cannot be
 * reused by another file: a later stat showing the same device and inode
 * (and size and mtime) is the same file, unchanged, since every writer
 * replaces the file by rename and none rewrites it in place. That makes
 * "unchanged" a proof rather than a guess from timestamps, which coarse
 * kernel clocks make unreliable.
 */
interface Snapshot {
  /** dev, inode, size and mtime of the file; "" for an absent file. */
  readonly stamp: string
  readonly bytes: Uint8Array | undefined
  readonly state: Schema.State
  readonly hadLegacyPrompt: boolean
  /** Closes the handle that pins the inode. */
  readonly release: Effect.Effect<void>
}

const stampOf = (info: FileSystem.File.Info): string =>
  `${info.dev}:${Option.getOrElse(info.ino, () => -1)}:${info.size}:${
    Option.match(info.mtime, { onNone: () => -1, onSome: (d) => d.getTime() })
  }`

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)

/** Runs `effect` until it first succeeds, then returns that value without running it again. */
const untilSuccess = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  let done: Option.Option<A> = Option.none()
  return Effect.suspend(() =>
    Option.isSome(done) ? Effect.succeed(done.value) : Effect.tap(effect, (value) => {
      done = Option.some(value)
    })
  )
}

const isNotFound = (e: PlatformError.PlatformError) => e._tag === "SystemError" && e.reason === "NotFound"

const ioError = (operation: string, path: string) => (cause: PlatformError.PlatformError) =>
  new StateIoError({
    operation,
    path,
    reason: cause._tag === "SystemError" ? `${cause.reason}: ${cause.description ?? cause.message}` : cause.message,
    cause
  })

/** Builds the file-backed store (see `Store.make`). */
export const make = Effect.fnUntraced(function*(options?: {
  readonly dir?: string
  readonly lockTimeout?: import("effect/Duration").DurationInput
}) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const dir = path.resolve(options?.dir ?? defaultDir())
  const statePath = path.join(dir, "state.json")
  const lockPath = path.join(dir, "state.lock")
  const lockOptions = options?.lockTimeout === undefined ? {} : { timeout: options.lockTimeout }

  const absent: Snapshot = {
    stamp: "",
    bytes: undefined,
    state: codec.emptyState,
    hadLegacyPrompt: false,
    release: Effect.void
  }
  let snapshot: Snapshot | undefined

  /** Makes `next` the known state of the file, closing the handle of the one it replaces. */
  const remember = (next: Snapshot) =>
    Effect.suspend(() => {
      const previous = snapshot
      snapshot = next
      // Closing the replaced snapshot's file need not hold up the caller.
      return previous === undefined || previous.release === next.release ? Effect.void : Effect.forkDaemon(previous.release)
    }).pipe(Effect.as(next))
  yield* Effect.addFinalizer(() => snapshot === undefined ? Effect.void : snapshot.release)

  /** Reads a whole file of the size its stat gave; a file that grows meanwhile is being rewritten in place, which no well-behaved writer does. */
  const readAll = (file: FileSystem.File, size: number) =>
    Effect.gen(function*() {
      const buffer = Buffer.allocUnsafe(size)
      let offset = 0
      while (offset < size) {
        const n = Number(yield* file.read(buffer.subarray(offset)))
        if (n === 0) break
        offset += n
      }
      if (offset === size && Number(yield* file.read(Buffer.allocUnsafe(1))) > 0) {
        return yield* new StateIoError({ operation: "read", path: statePath, reason: "the file changed while being read" })
      }
      return buffer.subarray(0, offset)
    })

  /**
   * Opens `path` in a scope of its own, which the snapshot closes when it is
   * replaced. A failing close(2) is ignored: the descriptor is freed anyway,
   * and every file the store closes was only read, or fsynced before its
   * rename, so nothing is lost; Node's FileSystem reports it as a defect,
   * which would turn an update that landed into a crash.
   */
  const openPinned = (path: string, options: FileSystem.OpenFileOptions) =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const file = yield* fs.open(path, options).pipe(
        Scope.extend(scope),
        Effect.onError(() => Scope.close(scope, Exit.void))
      )
      return { file, release: Effect.catchAllDefect(Scope.close(scope, Exit.void), () => Effect.void) }
    })

  /**
   * The snapshot for freshly read `bytes`: the current one if the bytes are
   * the same (the file was replaced by an identical one). Otherwise the
   * current one is dropped first, so that with a large file the old and the
   * new state are not both in memory while decoding.
   */
  const sameAsBefore = (bytes: Uint8Array, stamp: string, release: Effect.Effect<void>) =>
    Effect.suspend(() => {
      const previous = snapshot
      if (previous === undefined) return Effect.succeed(undefined)
      if (previous.bytes !== undefined && sameBytes(previous.bytes, bytes)) {
        return Effect.succeed<Snapshot | undefined>({ ...previous, stamp, release })
      }
      snapshot = undefined
      return Effect.as(previous.release, undefined)
    })

  /** Reads and decodes the file, reusing the last decoded state when the bytes are the same. */
  const readSnapshot = Effect.gen(function*() {
    const opened = yield* openPinned(statePath, { flag: "r" }).pipe(
      Effect.map(Option.some),
      Effect.catchIf(isNotFound, () => Effect.succeed(Option.none())),
      Effect.mapError(ioError("open", statePath))
    )
    if (Option.isNone(opened)) return absent
    const { file, release } = opened.value
    return yield* Effect.gen(function*() {
      // The stat of the open file describes exactly the bytes read from it, even if a writer renames a new file in meanwhile.
      const info = yield* file.stat.pipe(Effect.mapError(ioError("stat", statePath)))
      const bytes = yield* readAll(file, Number(info.size)).pipe(
        Effect.catchTag("SystemError", "BadArgument", (e) => Effect.fail(ioError("read", statePath)(e)))
      )
      const stamp = stampOf(info)
      const same = yield* sameAsBefore(bytes, stamp, release)
      if (same !== undefined) return same
      const decoded = codec.decode(bytes, statePath)
      if (Either.isLeft(decoded)) return yield* decoded.left
      const { hadLegacyPrompt, state } = decoded.right
      return { stamp, bytes, state, hadLegacyPrompt, release }
    }).pipe(Effect.onError(() => release))
  })

  /** The file's current content: from memory when its stat proves it unchanged (see `Snapshot`). */
  const current: Effect.Effect<Snapshot, CorruptStateFile | StateIoError> = Effect.gen(function*() {
    const info = yield* fs.stat(statePath).pipe(
      Effect.map(Option.some),
      Effect.catchIf(isNotFound, () => Effect.succeed(Option.none())),
      Effect.mapError(ioError("stat", statePath))
    )
    if (Option.isNone(info)) return yield* remember(absent)
    if (info.value.type !== "File") {
      return yield* new StateIoError({ operation: "read", path: statePath, reason: `not a regular file (${info.value.type})` })
    }
    if (snapshot !== undefined && snapshot.stamp === stampOf(info.value)) return snapshot
    return yield* remember(yield* readSnapshot)
  }).pipe(Effect.uninterruptible)

  /**
   * Removes temp files left by writers that died; only called under the
   * lock, when no well-behaved writer has one open. Listing the directory
   * costs a round trip, so a store looks at most every `staleTempScanMillis`
   * (always on its first write: a process started after a crash cleans up).
   */
  let lastTempScan: number | undefined
  const removeStaleTempFiles = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    if (lastTempScan !== undefined && now - lastTempScan < staleTempScanMillis) return
    lastTempScan = now
    const names = yield* fs.readDirectory(dir).pipe(Effect.mapError(ioError("list", dir)))
    for (const name of names) {
      if (!TEMP_FILE.test(name)) continue
      const stale = path.join(dir, name)
      yield* fs.remove(stale).pipe(
        Effect.catchIf(isNotFound, () => Effect.void),
        Effect.mapError(ioError("remove stale temp file", stale))
      )
    }
  })

  /** Creates `state.json.tmp<digits>` exclusively, as Go's os.CreateTemp does. */
  const createTemp = Effect.gen(function*() {
    for (let attempt = 0;; attempt++) {
      const name = path.join(dir, `state.json.tmp${yield* Random.nextIntBetween(0, 4_294_967_295)}`)
      const opened = yield* openPinned(name, { flag: "wx", mode: 0o600 }).pipe(
        Effect.map((pinned) => ({ pinned, name })),
        Effect.catchIf(
          (e) => e._tag === "SystemError" && e.reason === "AlreadyExists" && attempt < 100,
          () => Effect.succeed(undefined)
        ),
        Effect.mapError(ioError("create temp file", name))
      )
      if (opened !== undefined) return opened
    }
  })

  /**
   * Replaces the file with `bytes`: temp file, fsync, rename, directory
   * fsync. Under the lock. Returns the new file's stat and the handle that
   * pins it, for the snapshot.
   */
  const writeAtomically = (bytes: Uint8Array) =>
    Effect.gen(function*() {
      yield* removeStaleTempFiles
      const { name, pinned } = yield* createTemp
      let renamed = false
      return yield* Effect.gen(function*() {
        const { file } = pinned
        yield* file.writeAll(bytes).pipe(Effect.mapError(ioError("write temp file", name)))
        yield* file.sync.pipe(Effect.mapError(ioError("fsync temp file", name)))
        yield* fs.rename(name, statePath).pipe(Effect.mapError(ioError("rename temp file", statePath)))
        renamed = true
        const [, info] = yield* Effect.all([
          // Without this fsync the rename may not survive a power loss, leaving an empty or old file.
          Effect.flatMap(directory, (handle) => handle.sync).pipe(Effect.mapError(ioError("fsync directory", dir))),
          // Meanwhile: the stamp of the new state.json (the renamed temp file is the same inode).
          file.stat.pipe(Effect.mapError(ioError("stat", statePath)))
        ], { concurrency: "unbounded" })
        return { info, release: pinned.release }
      }).pipe(
        Effect.onError(() =>
          Effect.zipRight(pinned.release, renamed ? Effect.void : fs.remove(name).pipe(Effect.ignore))
        )
      )
    }).pipe(Effect.uninterruptible)

  /** Creates the directory (0755) if missing; once it succeeds, not again: a round trip saved on every update. */
  const ensureDir = untilSuccess(
    fs.makeDirectory(dir, { recursive: true, mode: 0o755 }).pipe(Effect.mapError(ioError("create directory", dir)))
  )

  /** The directory, opened once (for the fsync that makes a rename durable) and closed with the store. */
  const storeScope = yield* Effect.scope
  const directory = untilSuccess(
    Effect.flatMap(openPinned(dir, { flag: "r" }), ({ file, release }) => Effect.as(Scope.addFinalizer(storeScope, release), file))
  )

  const withLock = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.zipRight(
      ensureDir,
      Effect.scoped(Effect.zipRight(Lock.acquire(lockPath, lockOptions), effect))
    ).pipe(Effect.provideService(FileSystem.FileSystem, fs))

  /** Writes `next` unless it is what the file already holds. Under the lock. */
  const commit = (seen: Snapshot, next: Schema.State) =>
    Effect.gen(function*() {
      if (next === seen.state && !seen.hadLegacyPrompt) return
      const bytes = codec.encodeBytes(next)
      if (seen.bytes !== undefined && sameBytes(seen.bytes, bytes)) return
      const { info, release } = yield* writeAtomically(bytes)
      yield* remember({ stamp: stampOf(info), bytes, state: next, hadLegacyPrompt: false, release })
    })

  const modifyEffect = <A, E, R>(
    f: (state: Schema.State) => Effect.Effect<readonly [A, Schema.State], E, R>
  ): Effect.Effect<A, E | StateError, R> =>
    withLock(Effect.gen(function*() {
      const seen = yield* current
      const [result, next] = yield* f(seen.state)
      yield* commit(seen, next)
      return result
    }))

  const service: StateStoreService = {
    load: Effect.gen(function*() {
      const seen = yield* current
      if (!seen.hadLegacyPrompt) return seen.state
      // Go rewrites without the lock, which can clobber a concurrent update; this rewrite holds it.
      return yield* modifyEffect((state) => Effect.succeed([state, state] as const))
    }).pipe(Effect.withSpan("StateStore.load")),
    save: Effect.fn("StateStore.save")((state: Schema.State) =>
      withLock(Effect.flatMap(current, (seen) => commit(seen, state)))
    ),
    update: Effect.fn("StateStore.update")((f: (state: Schema.State) => Schema.State) =>
      modifyEffect((state) => Effect.sync(() => [undefined, f(state)] as const))
    ),
    updateEffect: Effect.fn("StateStore.updateEffect")(<E, R>(f: (state: Schema.State) => Effect.Effect<Schema.State, E, R>) =>
      modifyEffect((state) => Effect.map(f(state), (next) => [undefined, next] as const))
    ),
    modify: Effect.fn("StateStore.modify")(<A>(f: (state: Schema.State) => readonly [A, Schema.State]) =>
      modifyEffect((state) => Effect.sync(() => f(state)))
    ),
    modifyEffect: Effect.fn("StateStore.modifyEffect")(modifyEffect)
  }
  return service
})

/** Builds the in-memory store (see `Store.layerMemory`). */
export const makeMemory = (initial: Schema.State = codec.emptyState): Effect.Effect<StateStoreService> =>
  Effect.gen(function*() {
    let state = initial
    const mutex = yield* Effect.makeSemaphore(1)
    const modifyEffect = <A, E, R>(
      f: (state: Schema.State) => Effect.Effect<readonly [A, Schema.State], E, R>
    ): Effect.Effect<A, E, R> =>
      mutex.withPermits(1)(Effect.suspend(() =>
        Effect.map(f(state), ([result, next]) => {
          state = next
          return result
        })
      ))
    return {
      load: Effect.sync(() => state),
      save: (next) => modifyEffect(() => Effect.succeed([undefined, next] as const)),
      update: (f) => modifyEffect((s) => Effect.sync(() => [undefined, f(s)] as const)),
      updateEffect: (f) => modifyEffect((s) => Effect.map(f(s), (next) => [undefined, next] as const)),
      modify: (f) => modifyEffect((s) => Effect.sync(() => f(s))),
      modifyEffect
    }
  })
