/**
 * Reading the state file for the viewing commands, without the store.
 *
 * @since 0.2.0
 */
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as os from "node:os"
import * as Schema from "../Schema.js"
import { StateIoError } from "../StateError.js"
import { CliFailure } from "./errors.js"

/**
 * `$HOME/.local/state/incrementum`, the Go tool's state directory: the
 * store's `Store.defaultDir`, repeated here because importing the store
 * loads the native lock binding, which the viewing commands do not need
 * (test/cli.test.ts checks the two agree).
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultDir = (): string => `${os.homedir()}/.local/state/incrementum`

const ioError = (operation: string, path: string) => (e: PlatformError.PlatformError) =>
  new StateIoError({ operation, path, reason: e.description ?? e.message, cause: e })

/** `None` when nothing is at `path`; other failures of stat(2) are `StateIoError`s. */
const statIfExists = (path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.stat(path)).pipe(
    Effect.map(Option.some),
    Effect.catchIf((e) => e._tag === "SystemError" && e.reason === "NotFound", () => Effect.succeed(Option.none())),
    Effect.mapError(ioError("stat", path))
  )

/**
 * The state directory a command works on: `--dir`, resolved against the
 * working directory, which must exist and be a directory, or else the
 * default directory (which need not exist yet: nothing has been recorded).
 * Fails with `CliFailure` naming a `--dir` that does not exist or is not
 * a directory. Never creates anything.
 *
 * @since 0.2.0
 * @category reading
 */
export const stateDirectory = Effect.fn("Cli.stateDirectory")(function*(dir: Option.Option<string>) {
  const path = yield* Path.Path
  if (Option.isNone(dir)) return defaultDir()
  const resolved = path.resolve(dir.value)
  const info = yield* statIfExists(resolved)
  if (Option.isNone(info)) return yield* new CliFailure({ reason: `--dir ${dir.value}: no such directory` })
  if (info.value.type !== "Directory") {
    return yield* new CliFailure({ reason: `--dir ${dir.value}: not a directory` })
  }
  return resolved
})

/**
 * Reads and decodes `<dir>/state.json` (see `stateDirectory`) without the
 * store: no lock and no write, where the store's `load` would rewrite a
 * file that still holds legacy session prompts. A viewer must be safe to
 * run on a file someone is debugging, and must not wait behind a held
 * lock. `state` is `None` when the file does not exist. Fails with
 * `CliFailure` (see `stateDirectory`), `StateIoError` and
 * `CorruptStateFile`.
 *
 * @since 0.2.0
 * @category reading
 */
export const readStateFile = Effect.fn("Cli.readStateFile")(function*(dir: Option.Option<string>) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const file = path.join(yield* stateDirectory(dir), "state.json")
  const info = yield* statIfExists(file)
  if (Option.isNone(info)) return { file, state: Option.none<Schema.State>() }
  // Reading a FIFO or a device would block or never end.
  if (info.value.type !== "File") {
    return yield* new StateIoError({ operation: "read", path: file, reason: `not a regular file (${info.value.type})` })
  }
  const bytes = yield* fs.readFile(file).pipe(Effect.mapError(ioError("read", file)))
  return { file, state: Option.some(yield* Schema.decode(bytes, { path: file })) }
})

/**
 * `readStateFile`'s state, the empty state when the file does not exist.
 *
 * @since 0.2.0
 * @category reading
 */
export const readState = (dir: Option.Option<string>) =>
  Effect.map(readStateFile(dir), ({ state }) => Option.getOrElse(state, () => Schema.empty))
