import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HashSet from "effect/HashSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Scope from "effect/Scope"
import * as NodeFs from "node:fs"
import * as os from "node:os"
import * as Lock from "../Lock.js"
import { CorruptStateFile, LockLost, StateIoError } from "../StateError.js"
import type { Backend, Content } from "../Store.js"
import * as codec from "./codec.js"
import * as Watch from "./watch.js"

/** `$HOME/.local/state/incrementum`, the Go tool's default. */
export const defaultDir = (): string => `${os.homedir()}/.local/state/incrementum`

/** Node's FileSystem and Path, for `layerNode`. */
export const nodeServices = Layer.merge(NodeFileSystem.layer, NodePath.layer)

const TEMP_FILE = /^state\.json\.tmp\d+$/

const staleTempScanMillis = 10_000

/**
 * The calls from the rename on, made synchronously on the main thread: the
 * rename, the fstat of the new file and the directory fsync. Run in one
 * synchronous step with the check for a pending interruption, nothing can
 * interrupt an update between deciding to rename and recording that it did,
 * so an update reports exactly what it did. A reference so that tests can
 * inject faults; each throws Node's errors (with `code`).
 */
export interface CommitCalls {
  readonly rename: (from: string, to: string) => void
  /** `path` is the file's name when it was opened, for messages. */
  readonly fstat: (fd: number, path: string) => NodeFs.Stats
  readonly fsyncDirectory: (dir: string) => void
}

export class Commit extends Context.Reference<Commit>()("@incrementum/state/internal/fileBackend/Commit", {
  defaultValue: (): CommitCalls => ({
    rename: NodeFs.renameSync,
    fstat: (fd) => NodeFs.fstatSync(fd),
    fsyncDirectory: (dir) => {
      const fd = NodeFs.openSync(dir, "r")
      try {
        NodeFs.fsyncSync(fd)
      } finally {
        NodeFs.closeSync(fd)
      }
    }
  })
}) {}

/**
 * The stamp of a file: dev, inode, size and mtime. The store keeps the file
 * it read (or wrote) open while it remembers it, so its inode cannot be
 * freed and its number cannot be reused: a later stat with the same stamp is
 * the same file, unchanged, since every writer replaces the file by rename.
 * That makes "unchanged" a proof rather than a guess from timestamps.
 */
const stampOf = (info: FileSystem.File.Info): string =>
  `${info.dev}:${Option.getOrElse(info.ino, () => -1)}:${info.size}:${
    Option.match(info.mtime, { onNone: () => -1, onSome: (d) => d.getTime() })
  }`

const stampOfStats = (stats: NodeFs.Stats): string => `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtime.getTime()}`

const isNotFound = (e: PlatformError.PlatformError) => e._tag === "SystemError" && e.reason === "NotFound"

const ioError = (operation: string, path: string, committed?: boolean) => (cause: PlatformError.PlatformError) =>
  new StateIoError({
    operation,
    path,
    reason: cause._tag === "SystemError" ? `${cause.reason}: ${cause.description ?? cause.message}` : cause.message,
    cause,
    ...(committed === true ? { committed } : {})
  })

const nodeIoError = (operation: string, path: string, committed: boolean, cause: unknown) =>
  new StateIoError({
    operation,
    path,
    reason: cause instanceof Error ? cause.message : String(cause),
    cause,
    ...(committed ? { committed } : {})
  })

/** The file backend (see `Store.make`): flock on `state.lock`, temp file, fsync, rename, directory fsync. */
export const make = Effect.fnUntraced(function*(options?: {
  readonly dir?: string
  readonly lockTimeout?: Duration.DurationInput
  readonly watch?: Watch.WatchOptions
}) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const calls = yield* Commit
  // The process's lock bookkeeping if the program provides it, else the store's own.
  const provided = yield* Effect.serviceOption(Lock.Locks)
  const locks = Option.isSome(provided) ? provided.value : yield* Lock.make
  /** The lock while this store holds it: writes are made only inside `exclusive`. */
  let held: Lock.Held | undefined
  const dir = path.resolve(options?.dir ?? defaultDir())
  const statePath = path.join(dir, "state.json")
  const lockPath = path.join(dir, "state.lock")
  const lockOptions = options?.lockTimeout === undefined ? {} : { timeout: options.lockTimeout }

  /**
   * Opens `path` for the lifetime of the current scope. A failing close(2)
   * is ignored: the descriptor is freed anyway, and every file the store
   * closes was only read, or fsynced before its rename, so nothing is lost;
   * Node's FileSystem reports it as a defect, which would turn an update
   * that landed into a crash.
   */
  const openScoped = (file: string, openOptions: FileSystem.OpenFileOptions) =>
    Effect.uninterruptible(Effect.gen(function*() {
      const own = yield* Scope.make()
      const opened = yield* fs.open(file, openOptions).pipe(
        Scope.extend(own),
        Effect.onError(() => Scope.close(own, Exit.void))
      )
      yield* Effect.addFinalizer(() => Effect.catchAllDefect(Scope.close(own, Exit.void), () => Effect.void))
      return opened
    }))

  const tooLarge = (size: number) =>
    new CorruptStateFile({
      path: statePath,
      jsonPath: "$",
      expected: `a file of at most ${codec.maxFileBytes} bytes`,
      found: `${size} bytes`
    })

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
    }).pipe(Effect.catchTag("SystemError", "BadArgument", (e) => Effect.fail(ioError("read", statePath)(e))))

  const absent = (known: string | undefined) =>
    Effect.succeed(known === "" ? undefined : { _tag: "Absent", stamp: "" } as const)

  // Written with one combinator rather than a generator: an unchanged file (the warm load) is one stat and this.
  const read = (known: string | undefined): Effect.Effect<Content | undefined, StateIoError | CorruptStateFile, Scope.Scope> =>
    Effect.matchEffect(fs.stat(statePath), {
      onFailure: (e) => isNotFound(e) ? absent(known) : Effect.fail(ioError("stat", statePath)(e)),
      onSuccess: (info) => {
        if (info.type !== "File") {
          return Effect.fail(
            new StateIoError({ operation: "read", path: statePath, reason: `not a regular file (${info.type})` })
          )
        }
        if (stampOf(info) === known) return Effect.succeed(undefined)
        if (Number(info.size) > codec.maxFileBytes) return Effect.fail(tooLarge(Number(info.size)))
        return readChanged(known)
      }
    })

  const readChanged = (known: string | undefined) =>
    Effect.gen(function*() {
      const file = yield* openScoped(statePath, { flag: "r" }).pipe(
        Effect.map(Option.some),
        Effect.catchIf(isNotFound, () => Effect.succeed(Option.none())),
        Effect.mapError(ioError("open", statePath))
      )
      // Removed since the stat: absent now.
      if (Option.isNone(file)) return yield* absent(known)
      // The stat of the open file describes exactly the bytes read from it, even if a writer renames a new file in meanwhile.
      const opened = yield* file.value.stat.pipe(Effect.mapError(ioError("stat", statePath)))
      const size = Number(opened.size)
      if (size > codec.maxFileBytes) return yield* tooLarge(size)
      const bytes = yield* readAll(file.value, size)
      return { _tag: "Bytes", stamp: stampOf(opened), bytes } as const
    })

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

  /** Creates `state.json.tmp<digits>` exclusively, as Go's os.CreateTemp does, open for the current scope. */
  const createTemp = Effect.gen(function*() {
    for (let attempt = 0;; attempt++) {
      const name = path.join(dir, `state.json.tmp${yield* Random.nextIntBetween(0, 4_294_967_295)}`)
      const file = yield* openScoped(name, { flag: "wx", mode: 0o600 }).pipe(
        Effect.catchIf(
          (e) => e._tag === "SystemError" && e.reason === "AlreadyExists" && attempt < 100,
          () => Effect.succeed(undefined)
        ),
        Effect.mapError(ioError("create temp file", name))
      )
      if (file !== undefined) return { name, file }
    }
  })

  /**
   * The point of no return, in one synchronous step: unless the update was
   * interrupted meanwhile, rename the temp file over state.json, then stat
   * it and fsync the directory the rename went into (opened now, so a
   * directory replaced since the last write is the one synced). A failure
   * after the rename says the new state is in place.
   */
  const renameIntoPlace = (name: string, fd: number) =>
    Effect.descriptorWith((fiber): Effect.Effect<string, StateIoError | LockLost> => {
      if (HashSet.size(fiber.interruptors) > 0) return Effect.interrupt
      // The lock file removed or replaced: another process may hold "the" lock now.
      if (held === undefined || !held.isCurrent()) return Effect.fail(new LockLost({ path: lockPath }))
      try {
        calls.rename(name, statePath)
      } catch (cause) {
        return Effect.fail(nodeIoError("rename temp file", statePath, false, cause))
      }
      let stamp: string
      try {
        stamp = stampOfStats(calls.fstat(fd, name))
      } catch (cause) {
        return Effect.fail(nodeIoError("stat", statePath, true, cause))
      }
      try {
        // Without this fsync the rename may not survive a power loss, leaving an empty or old file.
        calls.fsyncDirectory(dir)
      } catch (cause) {
        return Effect.fail(nodeIoError("fsync directory", dir, true, cause))
      }
      return Effect.succeed(stamp)
    })

  const replace: Backend["replace"] = (change) =>
    Effect.gen(function*() {
      yield* removeStaleTempFiles
      const { file, name } = yield* createTemp
      // The temp file stays open in the caller's scope: once renamed, it is the new snapshot's pin.
      return yield* Effect.gen(function*() {
        yield* file.writeAll(change.next.bytes).pipe(Effect.mapError(ioError("write temp file", name)))
        yield* file.sync.pipe(Effect.mapError(ioError("fsync temp file", name)))
        return yield* renameIntoPlace(name, file.fd)
      }).pipe(
        Effect.onError((cause) =>
          Effect.suspend(() =>
            // Once renamed (committed), the temp name is gone; before, it must not be left behind.
            Option.exists(Cause.failureOption(cause), (e) => e._tag === "StateIoError" && e.committed === true)
              ? Effect.void
              : Effect.ignore(fs.remove(name))
          )
        )
      )
    })

  /** Creates the directory (0755) if missing; once it succeeded, not again: a round trip saved on every update. */
  let dirMade = false
  const ensureDir = Effect.suspend(() =>
    dirMade ? Effect.void : fs.makeDirectory(dir, { recursive: true, mode: 0o755 }).pipe(
      Effect.mapError(ioError("create directory", dir)),
      Effect.tap(() => {
        dirMade = true
      })
    )
  )

  const backend: Backend = {
    path: statePath,
    read,
    exclusive: (body) =>
      Effect.zipRight(
        ensureDir,
        Effect.scoped(Effect.gen(function*() {
          const lock = yield* Effect.interruptible(Lock.acquire(lockPath, lockOptions)).pipe(
            Effect.provideService(Lock.Locks, locks)
          )
          held = lock
          return yield* Effect.ensuring(body, Effect.sync(() => {
            held = undefined
          }))
        }))
      ),
    replace,
    watch: Watch.hints(dir, path.basename(statePath), options?.watch)
  }
  return backend
})
