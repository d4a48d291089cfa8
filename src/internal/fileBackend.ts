import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as os from "node:os"
import * as Lock from "../Lock.js"
import { CorruptStateFile, LockLost, StateIoError } from "../StateError.js"
import type { Backend, Content } from "../Store.js"
import * as BytePool from "./bytePool.js"
import * as codec from "./codec.js"
import { unlessInterrupted } from "./interruption.js"
import * as LockInternal from "./lock.js"
import { type BackendNow, NotNow, withNow } from "./store.js"
import * as Watch from "./watch.js"

/** `$HOME/.local/state/incrementum`, the Go tool's default. */
export const defaultDir = (): string => `${os.homedir()}/.local/state/incrementum`

/** Node's FileSystem and Path, for `layerNode`. */
export const nodeServices = Layer.merge(NodeFileSystem.layer, NodePath.layer)

const TEMP_FILE = /^state\.json\.tmp\d+$/

const staleTempScanMillis = 10_000

/**
 * The blocking calls of the file store, on the main thread. The rename,
 * the fstat of the new file and the directory fsync are always made this
 * way: run in one synchronous step with the check for a pending
 * interruption, nothing can interrupt an update between deciding to rename
 * and recording that it did, so an update reports exactly what it did. For
 * a file of at most `SyncLimit` bytes the whole read and write are made
 * this way too (see BENCHMARKS.md, issue 11). A reference so that tests
 * can inject faults; each throws Node's errors (with `code`). `path` is the
 * file's name when it was opened, for messages and faults.
 */
export interface FileCalls {
  readonly stat: (path: string) => NodeFs.Stats
  readonly open: (path: string, flags: string, mode?: number) => number
  readonly fstat: (fd: number, path: string) => NodeFs.Stats
  /** Reads into `buffer` at the file's position; 0 at its end. */
  readonly read: (fd: number, buffer: Uint8Array, path: string) => number
  /** Writes from `buffer` at the file's position; how many bytes it took. */
  readonly write: (fd: number, buffer: Uint8Array, path: string) => number
  readonly fsync: (fd: number, path: string) => void
  /**
   * Blocking, and only for a file still linked in its directory: nothing to
   * free, so nothing to wait for. (The store keeps no small file open past
   * its read or its rename, so it never closes the last descriptor of a
   * replaced file, which waits for the journal.)
   */
  readonly closeNow: (fd: number, path: string) => void
  readonly unlink: (path: string) => void
  readonly rename: (from: string, to: string) => void
  readonly fsyncDirectory: (dir: string) => void
}

/** Node's synchronous calls. */
export const nodeFileCalls: FileCalls = {
  stat: (path) => NodeFs.statSync(path),
  open: (path, flags, mode) => NodeFs.openSync(path, flags, mode),
  fstat: (fd) => NodeFs.fstatSync(fd),
  read: (fd, buffer) => NodeFs.readSync(fd, buffer, 0, buffer.byteLength, null),
  write: (fd, buffer) => NodeFs.writeSync(fd, buffer, 0, buffer.byteLength, null),
  fsync: (fd) => NodeFs.fsyncSync(fd),
  closeNow: (fd) => NodeFs.closeSync(fd),
  unlink: (path) => NodeFs.unlinkSync(path),
  rename: NodeFs.renameSync,
  fsyncDirectory: (dir) => {
    const fd = NodeFs.openSync(dir, "r")
    try {
      NodeFs.fsyncSync(fd)
    } finally {
      NodeFs.closeSync(fd)
    }
  }
}

export class Calls extends Context.Reference<Calls>()("@incrementum/state/internal/fileBackend/Calls", {
  defaultValue: (): FileCalls => nodeFileCalls
}) {}

/**
 * The largest state file read and written with blocking calls (`Calls`)
 * while the lock is held; larger ones go through the `FileSystem` service
 * (libuv's pool), so the event loop is not stalled for the copy and fsync
 * of a large file. 1 MiB: a realistic state (tens of jobs) is tens of kB,
 * which a blocking write and fsync finish in well under a millisecond here,
 * less than the ten pool round trips they replace. 0 makes every read and
 * write go through `FileSystem`.
 */
export class SyncLimit extends Context.Reference<SyncLimit>()("@incrementum/state/internal/fileBackend/SyncLimit", {
  defaultValue: () => ({ bytes: 1 << 20 })
}) {}

/**
 * The stamp of a file: dev, inode, size and mtime. The store keeps a large
 * file it read (or wrote) open while it remembers it, so its inode cannot be
 * freed and its number cannot be reused: a later stat with the same stamp is
 * the same file, unchanged, since every writer replaces the file by rename.
 * That makes "unchanged" a proof rather than a guess from timestamps, and
 * spares reading 70 MB again. A small file is read again instead (see
 * `unpinnedStamp`).
 */
const stampOf = (info: FileSystem.File.Info): string =>
  `${info.dev}:${Option.getOrElse(info.ino, () => -1)}:${info.size}:${
    Option.match(info.mtime, { onNone: () => -1, onSome: (d) => d.getTime() })
  }`

const stampOfStats = (stats: NodeFs.Stats): string => `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtime.getTime()}`

/**
 * The stamp of a small file the store read or wrote and did not keep open
 * (see `readSmallNow`). Never equal to a stat's stamp, so it never says
 * "unchanged": without the open file an equal stat proves nothing (an
 * inode number is reused as soon as it is freed), and the store compares
 * the bytes instead.
 */
const unpinnedStamp = (stamp: string): string => `bytes:${stamp}`

const isNotFound = (e: PlatformError.PlatformError) => e._tag === "SystemError" && e.reason === "NotFound"

const codeOf = (cause: unknown): unknown => (cause as NodeJS.ErrnoException | undefined)?.code

/** What a stat found that is not a regular file, in the words of `FileSystem.File.Type`. */
const typeOfStats = (stats: NodeFs.Stats): string =>
  stats.isDirectory()
    ? "Directory"
    : stats.isSymbolicLink()
    ? "SymbolicLink"
    : stats.isBlockDevice()
    ? "BlockDevice"
    : stats.isCharacterDevice()
    ? "CharacterDevice"
    : stats.isFIFO()
    ? "FIFO"
    : stats.isSocket()
    ? "Socket"
    : "Unknown"

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
  const calls = yield* Calls
  const syncLimit = (yield* SyncLimit).bytes
  // Read synchronously, by the blocking write path, to decide whether a scan for stale temp files is due.
  const clock = yield* Effect.clock
  // The process's lock bookkeeping if the program provides it, else the store's own.
  const provided = yield* Effect.serviceOption(Lock.Locks)
  const locks = Option.isSome(provided) ? provided.value : yield* Lock.make
  /** The lock while this store holds it: writes are made only inside `exclusive`. */
  let held: Lock.Held | undefined
  const dir = path.resolve(options?.dir ?? defaultDir())
  const statePath = path.join(dir, "state.json")
  const lockPath = path.join(dir, "state.lock")
  const lockTimeout = Duration.decode(options?.lockTimeout ?? Lock.defaultTimeout)

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

  /** No file: the empty state, or `undefined` when the store already knows it as absent. */
  const absentNow = (known: string | undefined): Content | undefined =>
    known === "" ? undefined : { _tag: "Absent", stamp: "" }

  const absent = (known: string | undefined) => Effect.succeed(absentNow(known))

  /**
   * Closes a descriptor the store opened with `calls`, at once: its file is
   * still linked (the store holds the lock, or has only just read it), so
   * the close frees nothing and waits for nothing. A failing close(2) is
   * ignored, as `openScoped` does: the descriptor is freed anyway, and the
   * file was only read, or fsynced before its rename.
   */
  const closeNowQuietly = (fd: number, file: string) => {
    try {
      calls.closeNow(fd, file)
    } catch {
      // Freed whatever close(2) reports.
    }
  }

  /** The whole file behind `fd`, of the size its fstat gave; the blocking twin of `readAll`. */
  const readAllSync = (fd: number): Content => {
    let opened: NodeFs.Stats
    try {
      opened = calls.fstat(fd, statePath)
    } catch (cause) {
      throw nodeIoError("stat", statePath, false, cause)
    }
    if (opened.size > codec.maxFileBytes) throw tooLarge(opened.size)
    const buffer = BytePool.take(opened.size)
    let offset = 0
    try {
      while (offset < buffer.length) {
        const n = calls.read(fd, buffer.subarray(offset), statePath)
        if (n === 0) break
        offset += n
      }
      if (offset === buffer.length && calls.read(fd, Buffer.allocUnsafe(1), statePath) > 0) {
        throw new StateIoError({ operation: "read", path: statePath, reason: "the file changed while being read" })
      }
    } catch (cause) {
      throw cause instanceof StateIoError ? cause : nodeIoError("read", statePath, false, cause)
    }
    return { _tag: "Bytes", stamp: stampOfStats(opened), bytes: buffer.subarray(0, offset) }
  }

  /**
   * A small file's read, blocking: open, fstat, read and close in one step,
   * with no thread hop, keeping nothing open. The store compares the bytes
   * with its snapshot's, which for a file this size costs about what a
   * stat does, and proves more: a snapshot file kept open so that its stat
   * could prove it unchanged was freed, once another process replaced it,
   * by the close that finally let it go, on the reader's side (about 200 µs
   * of a cold load of 10 jobs here, and a journal update per write under
   * contention), where a file nobody holds is freed by the rename that
   * replaces it, as the Go tool's files are.
   */
  const readSmallNow = (known: string | undefined): Either.Either<Content | undefined, StateIoError | CorruptStateFile> => {
    let fd: number
    try {
      fd = calls.open(statePath, "r")
    } catch (cause) {
      // Removed since the stat: absent now.
      return codeOf(cause) === "ENOENT" ? Either.right(absentNow(known)) : Either.left(nodeIoError("open", statePath, false, cause))
    }
    try {
      const content = readAllSync(fd)
      return Either.right({ ...content, stamp: unpinnedStamp(content.stamp) })
    } catch (error) {
      return Either.left(error as StateIoError | CorruptStateFile)
    } finally {
      closeNowQuietly(fd, statePath)
    }
  }

  /**
   * The stat, blocking (2 µs here, where a pool round trip costs 100 µs);
   * a file of at most `syncLimit` bytes is then read the same way
   * (`readSmallNow`), a larger one is `NotNow`.
   */
  const readNow = (known: string | undefined): Either.Either<Content | undefined | NotNow, StateIoError | CorruptStateFile> => {
    let info: NodeFs.Stats
    try {
      info = calls.stat(statePath)
    } catch (cause) {
      return codeOf(cause) === "ENOENT"
        ? Either.right(absentNow(known))
        : Either.left(nodeIoError("stat", statePath, false, cause))
    }
    if (!info.isFile()) {
      return Either.left(
        new StateIoError({ operation: "read", path: statePath, reason: `not a regular file (${typeOfStats(info)})` })
      )
    }
    // Only the stamp of a file the store keeps open can match (a large one's, see `unpinnedStamp`).
    if (stampOfStats(info) === known) return Either.right(undefined)
    if (info.size > codec.maxFileBytes) return Either.left(tooLarge(info.size))
    return info.size <= syncLimit ? readSmallNow(known) : Either.right(NotNow)
  }

  /** `readNow`, and through `FileSystem` what it cannot read now. */
  const readSync = (known: string | undefined): Effect.Effect<Content | undefined, StateIoError | CorruptStateFile, Scope.Scope> =>
    Effect.suspend(() => {
      const read = readNow(known)
      if (Either.isLeft(read)) return Effect.fail(read.left)
      return read.right === NotNow ? readChanged(known) : Effect.succeed(read.right)
    })

  // Written with one combinator rather than a generator: an unchanged file (the warm load) is one stat and this.
  const readAsync = (known: string | undefined): Effect.Effect<Content | undefined, StateIoError | CorruptStateFile, Scope.Scope> =>
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

  const read = syncLimit > 0 ? readSync : readAsync

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
  const scanForStaleTempFiles = Effect.gen(function*() {
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
  const tempScanDue = (): boolean =>
    lastTempScan === undefined || clock.unsafeCurrentTimeMillis() - lastTempScan >= staleTempScanMillis
  // A combinator, not a generator: this runs on every write, and scans only every `staleTempScanMillis`.
  const removeStaleTempFiles = Effect.suspend(() => {
    if (!tempScanDue()) return Effect.void
    lastTempScan = clock.unsafeCurrentTimeMillis()
    return scanForStaleTempFiles
  })

  /**
   * A name for a temp file, `state.json.tmp<digits>` as Go's os.CreateTemp
   * makes them; created exclusively, retried if taken. From `node:crypto`,
   * not Effect's `Random`: the blocking write is one synchronous step.
   */
  const tempName = () => path.join(dir, `state.json.tmp${NodeCrypto.randomInt(0, 4_294_967_295)}`)

  /** Creates `state.json.tmp<digits>` exclusively, as Go's os.CreateTemp does, open for the current scope. */
  const createTemp = Effect.gen(function*() {
    for (let attempt = 0;; attempt++) {
      const name = tempName()
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
   * The point of no return: rename the temp file over state.json, then
   * stat it and fsync the directory the rename went into (opened now, so a
   * directory replaced since the last write is the one synced). A failure
   * after the rename says the new state is in place.
   */
  const renameNow = (name: string, fd: number, keptOpen: boolean): Either.Either<string, StateIoError | LockLost> => {
    // The lock file removed or replaced: another process may hold "the" lock now.
    if (held === undefined || !held.isCurrent()) return Either.left(new LockLost({ path: lockPath }))
    try {
      calls.rename(name, statePath)
    } catch (cause) {
      return Either.left(nodeIoError("rename temp file", statePath, false, cause))
    }
    let stamp: string
    try {
      const written = stampOfStats(calls.fstat(fd, name))
      stamp = keptOpen ? written : unpinnedStamp(written)
    } catch (cause) {
      return Either.left(nodeIoError("stat", statePath, true, cause))
    }
    try {
      // Without this fsync the rename may not survive a power loss, leaving an empty or old file.
      calls.fsyncDirectory(dir)
    } catch (cause) {
      return Either.left(nodeIoError("fsync directory", dir, true, cause))
    }
    return Either.right(stamp)
  }

  /**
   * `renameNow` in one synchronous step with the check for a pending
   * interruption: nothing can interrupt an update between deciding to
   * rename and recording that it did, so an update reports exactly what it
   * did.
   */
  const renameIntoPlace = (name: string, fd: number, keptOpen: boolean) =>
    // An Either is an Effect of its value or its error.
    unlessInterrupted((): Effect.Effect<string, StateIoError | LockLost> => renameNow(name, fd, keptOpen))

  /** Creates the temp file as `createTemp` does, with `calls`; the caller closes it. */
  const createTempNow = (): Either.Either<{ readonly name: string; readonly fd: number }, StateIoError> => {
    for (let attempt = 0;; attempt++) {
      const name = tempName()
      try {
        return Either.right({ name, fd: calls.open(name, "wx", 0o600) })
      } catch (cause) {
        if (codeOf(cause) !== "EEXIST" || attempt >= 100) return Either.left(nodeIoError("create temp file", name, false, cause))
      }
    }
  }

  /** Writes all of `bytes` at the file's position. */
  const writeAllSync = (fd: number, bytes: Uint8Array, name: string) => {
    let offset = 0
    while (offset < bytes.byteLength) offset += calls.write(fd, bytes.subarray(offset), name)
  }

  /**
   * A small file's write while the lock is held, blocking: create, write,
   * fsync, rename, directory fsync. No thread hop and no fiber switch
   * between the calls, which is most of what an update of a small state
   * cost. The temp file is closed as soon as it is renamed (see
   * `readSmallNow`: the store keeps no small file open), and is removed if
   * a step before the rename fails.
   */
  const writeSmallNow = (change: Parameters<Backend["replace"]>[0]): Either.Either<string, StateIoError | LockLost> => {
    const created = createTempNow()
    if (Either.isLeft(created)) return Either.left(created.left)
    const { fd, name } = created.right
    let written: Either.Either<string, StateIoError | LockLost>
    try {
      writeAllSync(fd, change.next.bytes, name)
      try {
        calls.fsync(fd, name)
      } catch (cause) {
        throw nodeIoError("fsync temp file", name, false, cause)
      }
      written = renameNow(name, fd, false)
    } catch (cause) {
      written = Either.left(cause instanceof StateIoError ? cause : nodeIoError("write temp file", name, false, cause))
    } finally {
      closeNowQuietly(fd, name)
    }
    // Once renamed (committed), the temp name is gone; before, it must not be left behind.
    if (Either.isLeft(written) && !(written.left._tag === "StateIoError" && written.left.committed === true)) {
      try {
        calls.unlink(name)
      } catch {
        // Left for the next writer's scan for stale temp files.
      }
    }
    if (Either.isRight(written)) recycleAfterWrite(change)
    return written
  }

  /** The blocking write, unless the file is large or a scan for stale temp files is due (it lists the directory through `FileSystem`). */
  const replaceNow: BackendNow["replace"] = (change) =>
    change.next.bytes.byteLength > syncLimit || tempScanDue() ? Either.right(NotNow) : writeSmallNow(change)

  const replaceSync: Backend["replace"] = (change) =>
    Effect.zipRight(
      removeStaleTempFiles,
      // The scan waits for the pool: an update interrupted meanwhile writes nothing. From here to the end of
      // the update nothing waits, so the interruption is seen now or not at all (see `renameIntoPlace`).
      unlessInterrupted(() => writeSmallNow(change))
    )

  /**
   * Once a write is in place, the bytes it replaced (its store's snapshot,
   * decoded and let go before the write) and this backend's previous write
   * (its store's snapshot until now) are read by nobody but caches that
   * take an empty view as no entry, and by a concurrent load of the same
   * store only to compare (emptied, they compare unequal, and that load
   * decodes what it read): their memory goes back to `BytePool`, for the
   * next read and encode. Not after a failed write, which the store may
   * retry from the same snapshot. A buffer is handed back only once its
   * decode is over: a read's, when the update that decoded it writes
   * (another fiber may still be decoding what its own read returned, but
   * every read returns a buffer of its own); a write's, at the next write.
   * Handed back in a microtask: after the step that writes, which lets the
   * lock go when the write is the update's last step, so the handing back
   * (10 to 30 µs under contention here) does not hold it.
   */
  let lastWritten: Uint8Array | undefined
  const recycleAfterWrite = (change: Parameters<Backend["replace"]>[0]) => {
    const previous = change.previous.bytes
    const superseded = lastWritten !== previous ? lastWritten : undefined
    lastWritten = change.next.bytes
    queueMicrotask(() => {
      BytePool.give(superseded)
      BytePool.give(previous)
    })
  }

  const replace: Backend["replace"] = (change) =>
    change.next.bytes.byteLength <= syncLimit ? replaceSync(change) : replaceAsync(change)

  const replaceAsync: Backend["replace"] = (change) =>
    Effect.gen(function*() {
      yield* removeStaleTempFiles
      const { file, name } = yield* createTemp
      // The temp file stays open in the caller's scope: once renamed, it is the new snapshot's pin.
      return yield* Effect.gen(function*() {
        yield* file.writeAll(change.next.bytes).pipe(Effect.mapError(ioError("write temp file", name)))
        yield* file.sync.pipe(Effect.mapError(ioError("fsync temp file", name)))
        return yield* renameIntoPlace(name, file.fd, true)
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

  /** Forgets the lock once the body that held it is over. */
  const forgetLock = Effect.sync(() => {
    held = undefined
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
        // The bookkeeping passed in, not provided: providing a service costs a context patch per update.
        LockInternal.withLock(locks, lockPath, lockTimeout, (lock) => {
          held = lock
          return Effect.ensuring(body, forgetLock)
        })
      ),
    replace,
    watch: Watch.hints(dir, path.basename(statePath), options?.watch)
  }
  /** `exclusive` with a synchronous body, run the moment the lock is taken (see `Lock.withLockNow`). */
  const exclusiveNow: BackendNow["exclusive"] = (body, parent) =>
    Effect.zipRight(
      ensureDir,
      LockInternal.withLockNow(locks, lockPath, lockTimeout, (lock) => {
        held = lock
        let rest: ReturnType<typeof body> | undefined
        try {
          rest = body()
          return Exit.isExit(rest) ? rest : Effect.ensuring(rest, forgetLock)
        } finally {
          // The body is over, unless it left the rest to the fiber, which forgets the lock once that is done.
          if (rest === undefined || Exit.isExit(rest)) held = undefined
        }
      }, parent)
    )

  return syncLimit > 0 ? withNow(backend, { read: readNow, replace: replaceNow, exclusive: exclusiveNow }) : backend
})
