import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"

/** How the file backend learns the state file may have changed (see `Store.Options`). */
export interface WatchOptions {
  /** `"watch"` (default): the directory's change notifications, polling where they are unavailable; `"poll"`: polling only. */
  readonly mode?: "watch" | "poll"
  /** How often to poll when polling (default one second). */
  readonly pollInterval?: Duration.DurationInput
}

/** One second: a stat a second is about nothing, and a person waiting on a dashboard hardly notices it. */
export const defaultPollInterval = Duration.seconds(1)

/**
 * The directory's identity: a name made again is another directory, whose
 * changes the old watch never sees. Its birth time too, as a directory
 * removed and made again often gets the freed inode number back.
 */
const identity = (dir: string): string | undefined => {
  try {
    const stat = NodeFs.statSync(dir, { bigint: true })
    return `${stat.dev}:${stat.ino}:${stat.birthtimeNs}`
  } catch {
    return undefined
  }
}

/**
 * Hints that `file` in `dir` may have changed, as a stream of `void`; the
 * caller confirms each by reading (the stat proof makes a false hint
 * cheap). The watch is established before this effect returns, so a change
 * made after it is never missed, and it is released with the scope.
 *
 * Node's `fs.watch` directly rather than `FileSystem.watch`: the
 * platform's stream establishes the watch only when first pulled (too late
 * to order against the first read), stats each renamed name relative to
 * the working directory instead of the watched one, and turns a directory
 * that cannot be watched (missing, or a file system without notifications)
 * into a defect rather than something to fall back from.
 *
 * Writers rename into the directory, which the directory's watch sees. A
 * hint for any other name (the writers' temp files) is ignored. Hints
 * coalesce in a one-slot sliding queue: a burst is one read.
 *
 * A watch follows an inode, not a name, and Linux says nothing when the
 * watched directory is removed or renamed away: a state directory made
 * again would be silent forever (Node reports a removal only as an event
 * naming the directory itself). So every `pollInterval` the directory's
 * identity is checked (one `stat`); when it is gone, changed, or its watch
 * failed, that is a hint, and a new watch is tried. Where none can be
 * established (the directory missing, or a file system without
 * notifications) every check is a hint: polling.
 */
export const hints = (
  dir: string,
  file: string,
  options?: WatchOptions
): Effect.Effect<Stream.Stream<void>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const every = Schedule.spaced(options?.pollInterval ?? defaultPollInterval)
    if (options?.mode === "poll") return Stream.fromSchedule(every).pipe(Stream.as<void>(undefined))
    const queue = yield* Effect.acquireRelease(Queue.sliding<void>(1), Queue.shutdown)
    const self = NodePath.basename(dir)
    const establish = () => {
      const watched = identity(dir)
      if (watched === undefined) return undefined
      try {
        const watch = {
          identity: watched,
          failed: false,
          watcher: NodeFs.watch(dir, { persistent: true }, (_event, name) => {
            // Node names the directory itself when it is removed; the watch is then dead.
            if (name === self) watch.failed = true
            if (name === null || name === file || name === self) queue.unsafeOffer(undefined)
          })
        }
        watch.watcher.on("error", () => {
          watch.failed = true
          queue.unsafeOffer(undefined)
        })
        return watch
      } catch {
        return undefined
      }
    }
    let current = establish()
    yield* Effect.addFinalizer(() => Effect.sync(() => current?.watcher.close()))
    const check = Effect.sync(() => {
      if (current !== undefined && !current.failed && identity(dir) === current.identity) return
      current?.watcher.close()
      current = establish()
      queue.unsafeOffer(undefined)
    })
    yield* Effect.forkScoped(Effect.repeat(check, every))
    return Stream.fromQueue(queue)
  })
