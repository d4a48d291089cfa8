/**
 * A `FileSystem` layer over Node's that fails chosen operations with real
 * errno kinds, to prove each step of a write fails safely, and can pause at
 * any call (to interrupt an update there). It also provides the file
 * store's synchronous calls (`Calls`: the commit step, and the whole read
 * and write of a small file) and the lock's open of state.lock, with the
 * same faults. (The lock closes its file with Node's synchronous close,
 * whose errors it ignores.)
 *
 * `path` "sync" (the default, as in production for a small file) makes the
 * store read and write through the synchronous calls; "async" through the
 * `FileSystem` service (as for a large file), whose calls the hook can pause.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { SystemError, type SystemErrorReason } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeFs from "node:fs"
import { Calls, type FileCalls, nodeFileCalls, SyncLimit } from "../../src/internal/fileBackend.js"
import { OpenCall } from "../../src/internal/lock.js"

export type Errno = "ENOSPC" | "EIO" | "EACCES" | "EROFS" | "EXDEV"

/**
 * `open`/`rename`/`remove`/`readDirectory`/`stat`/`makeDirectory` fail on a path;
 * `read`/`writeAll`/`sync`/`fstat` (the open file's `stat`) on files opened at a matching path.
 * `close` makes closing a file opened at a matching path fail as Node's `FileSystem` reports it:
 * the descriptor is closed, and the error is a defect (the platform closes files with `orDie`).
 * `skip` lets the first `skip` matching calls through.
 */
export interface Fault {
  readonly operation:
    | "open"
    | "rename"
    | "remove"
    | "readDirectory"
    | "stat"
    | "makeDirectory"
    | "read"
    | "writeAll"
    | "sync"
    | "fstat"
    | "close"
  readonly match: RegExp
  readonly errno: Errno
  readonly skip?: number
}

const reasons: Record<Errno, SystemErrorReason> = {
  ENOSPC: "Unknown",
  EIO: "Unknown",
  EACCES: "PermissionDenied",
  EROFS: "PermissionDenied",
  EXDEV: "Unknown"
}

const messages: Record<Errno, string> = {
  ENOSPC: "no space left on device",
  EIO: "input/output error",
  EACCES: "permission denied",
  EROFS: "read-only file system",
  EXDEV: "cross-device link not permitted"
}

const failure = (fault: Fault, path: string) =>
  new SystemError({
    reason: reasons[fault.errno],
    module: "FileSystem",
    method: fault.operation,
    pathOrDescriptor: path,
    description: `${fault.errno}: ${messages[fault.errno]} (injected)`
  })

/** Runs before every asynchronous call the fault layer sees (say, to pause there); the synchronous commit calls cannot pause. */
export type Hook = (operation: Fault["operation"], path: string) => Effect.Effect<void>

/** Which of the store's two I/O paths a test drives (see `SyncLimit`). */
export type IoPath = "sync" | "async"

/** An error as Node's synchronous calls throw it. */
const nodeFailure = (fault: Fault, path: string) =>
  Object.assign(new Error(`${fault.errno}: ${messages[fault.errno]} (injected), ${fault.operation} '${path}'`), {
    code: fault.errno,
    path
  })

/** Node's file system with `faults` injected; every injected failure is counted in `hits`. */
export const faultyFileSystem = (
  faults: ReadonlyArray<Fault>,
  hits: Array<string> = [],
  hook: Hook = () => Effect.void,
  ioPath: IoPath = "sync"
): Layer.Layer<FileSystem.FileSystem | Calls | SyncLimit | OpenCall> => {
  const seen = new Map<Fault, number>()
  const find = (operation: Fault["operation"], path: string) =>
    faults.find((f) => {
      if (f.operation !== operation || !f.match.test(path)) return false
      const n = seen.get(f) ?? 0
      seen.set(f, n + 1)
      return n >= (f.skip ?? 0)
    })
  const throwIfFaulty = (operation: Fault["operation"], path: string) => {
    const fault = find(operation, path)
    if (fault === undefined) return
    hits.push(`${fault.operation} ${fault.errno} ${path}`)
    throw nodeFailure(fault, path)
  }
  const calls: FileCalls = {
    stat: (path) => {
      throwIfFaulty("stat", path)
      return NodeFs.statSync(path)
    },
    open: (path, flags, mode) => {
      throwIfFaulty("open", path)
      return nodeFileCalls.open(path, flags, mode)
    },
    read: (fd, buffer, path) => {
      throwIfFaulty("read", path)
      return nodeFileCalls.read(fd, buffer, path)
    },
    write: (fd, buffer, path) => {
      throwIfFaulty("writeAll", path)
      return nodeFileCalls.write(fd, buffer, path)
    },
    fsync: (fd, path) => {
      throwIfFaulty("sync", path)
      NodeFs.fsyncSync(fd)
    },
    // As Node's FileSystem reports a failing close: the descriptor is closed all the same.
    closeNow: (fd, path) => {
      NodeFs.closeSync(fd)
      throwIfFaulty("close", path)
    },
    unlink: (path) => {
      throwIfFaulty("remove", path)
      NodeFs.unlinkSync(path)
    },
    rename: (from, to) => {
      throwIfFaulty("rename", from)
      NodeFs.renameSync(from, to)
    },
    fstat: (fd, path) => {
      throwIfFaulty("fstat", path)
      return NodeFs.fstatSync(fd)
    },
    fsyncDirectory: (dir) => {
      throwIfFaulty("open", dir)
      const fd = NodeFs.openSync(dir, "r")
      try {
        throwIfFaulty("sync", dir)
        NodeFs.fsyncSync(fd)
      } finally {
        NodeFs.closeSync(fd)
      }
    }
  }
  const fileSystem = Layer.effect(
    FileSystem.FileSystem,
    Effect.map(FileSystem.FileSystem, (real): FileSystem.FileSystem => {
      const fail = (fault: Fault, path: string) => {
        hits.push(`${fault.operation} ${fault.errno} ${path}`)
        return Effect.fail(failure(fault, path))
      }
      const wrapFile = (file: FileSystem.File, path: string): FileSystem.File => {
        const faultOf = (operation: Fault["operation"]) =>
          Effect.zipRight(hook(operation, path), Effect.suspend(() => Effect.succeed(find(operation, path))))
        return {
          [FileSystem.FileTypeId]: FileSystem.FileTypeId,
          fd: file.fd,
          get stat() {
            return Effect.flatMap(faultOf("fstat"), (fault) => fault ? fail(fault, path) : file.stat)
          },
          get sync() {
            return Effect.flatMap(faultOf("sync"), (fault) => fault ? fail(fault, path) : file.sync)
          },
          seek: (offset, from) => file.seek(offset, from),
          read: (buffer) => Effect.flatMap(faultOf("read"), (fault) => fault ? fail(fault, path) : file.read(buffer)),
          readAlloc: (size) => file.readAlloc(size),
          truncate: (length) => file.truncate(length),
          write: (buffer) => file.write(buffer),
          writeAll: (buffer) =>
            Effect.flatMap(faultOf("writeAll"), (fault) => fault ? fail(fault, path) : file.writeAll(buffer))
        }
      }
      return {
        ...real,
        // Each fault is looked up when the effect runs, not when it is built: a store may build
        // an effect once and run it many times.
        open: (path, options) =>
          Effect.gen(function*() {
            yield* hook("open", path)
            const fault = find("open", path)
            if (fault) return yield* fail(fault, path)
            const file = yield* real.open(path, options)
            // Added after the real close, so it runs first; the real close still runs.
            yield* Effect.addFinalizer(() =>
              Effect.suspend(() => {
                const closing = find("close", path)
                if (closing === undefined) return Effect.void
                hits.push(`close ${closing.errno} ${path}`)
                return Effect.die(failure(closing, path))
              })
            )
            return wrapFile(file, path)
          }),
        makeDirectory: (path, options) =>
          Effect.zipRight(hook("makeDirectory", path), Effect.suspend(() => {
            const fault = find("makeDirectory", path)
            return fault ? fail(fault, path) : real.makeDirectory(path, options)
          })),
        rename: (from, to) =>
          Effect.zipRight(hook("rename", from), Effect.suspend(() => {
            const fault = find("rename", from)
            return fault ? fail(fault, from) : real.rename(from, to)
          })),
        remove: (path, options) =>
          Effect.zipRight(hook("remove", path), Effect.suspend(() => {
            const fault = find("remove", path)
            return fault ? fail(fault, path) : real.remove(path, options)
          })),
        readDirectory: (path, options) =>
          Effect.zipRight(hook("readDirectory", path), Effect.suspend(() => {
            const fault = find("readDirectory", path)
            return fault ? fail(fault, path) : real.readDirectory(path, options)
          })),
        stat: (path) =>
          Effect.zipRight(hook("stat", path), Effect.suspend(() => {
            const fault = find("stat", path)
            return fault ? fail(fault, path) : real.stat(path)
          }))
      }
    })
  ).pipe(Layer.provide(NodeFileSystem.layer))
  const lockOpen = {
    open: (lockPath: string) => {
      throwIfFaulty("open", lockPath)
      return NodeFs.openSync(lockPath, "a+", 0o644)
    }
  }
  return Layer.mergeAll(
    fileSystem,
    Layer.succeed(Calls, calls),
    Layer.succeed(SyncLimit, { bytes: ioPath === "sync" ? SyncLimit.defaultValue().bytes : 0 }),
    Layer.succeed(OpenCall, lockOpen)
  )
}
