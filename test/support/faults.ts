/**
 * A `FileSystem` layer over Node's that fails chosen operations with real
 * errno kinds, to prove each step of a write fails safely.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { SystemError, type SystemErrorReason } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

export type Errno = "ENOSPC" | "EIO" | "EACCES" | "EROFS" | "EXDEV"

/** `open`/`rename`/`remove`/`readDirectory`/`stat` fail on a path; `read`/`writeAll`/`sync` on files opened at a matching path. */
export interface Fault {
  readonly operation: "open" | "rename" | "remove" | "readDirectory" | "stat" | "read" | "writeAll" | "sync"
  readonly match: RegExp
  readonly errno: Errno
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

/** Node's file system with `faults` injected; every injected failure is counted in `hits`. */
export const faultyFileSystem = (faults: ReadonlyArray<Fault>, hits: Array<string> = []) =>
  Layer.effect(
    FileSystem.FileSystem,
    Effect.map(FileSystem.FileSystem, (real): FileSystem.FileSystem => {
      const find = (operation: Fault["operation"], path: string) =>
        faults.find((f) => f.operation === operation && f.match.test(path))
      const fail = (fault: Fault, path: string) => {
        hits.push(`${fault.operation} ${fault.errno} ${path}`)
        return Effect.fail(failure(fault, path))
      }
      const wrapFile = (file: FileSystem.File, path: string): FileSystem.File => {
        const writeAll = find("writeAll", path)
        const sync = find("sync", path)
        const read = find("read", path)
        return {
          [FileSystem.FileTypeId]: FileSystem.FileTypeId,
          fd: file.fd,
          get stat() {
            return file.stat
          },
          get sync() {
            return sync ? fail(sync, path) : file.sync
          },
          seek: (offset, from) => file.seek(offset, from),
          read: (buffer) => read ? fail(read, path) : file.read(buffer),
          readAlloc: (size) => file.readAlloc(size),
          truncate: (length) => file.truncate(length),
          write: (buffer) => file.write(buffer),
          writeAll: (buffer) => writeAll ? fail(writeAll, path) : file.writeAll(buffer)
        }
      }
      return {
        ...real,
        open: (path, options) => {
          const fault = find("open", path)
          return fault ? fail(fault, path) : Effect.map(real.open(path, options), (file) => wrapFile(file, path))
        },
        rename: (from, to) => {
          const fault = find("rename", from)
          return fault ? fail(fault, from) : real.rename(from, to)
        },
        remove: (path, options) => {
          const fault = find("remove", path)
          return fault ? fail(fault, path) : real.remove(path, options)
        },
        readDirectory: (path, options) => {
          const fault = find("readDirectory", path)
          return fault ? fail(fault, path) : real.readDirectory(path, options)
        },
        stat: (path) => {
          const fault = find("stat", path)
          return fault ? fail(fault, path) : real.stat(path)
        }
      }
    })
  ).pipe(Layer.provide(NodeFileSystem.layer))
