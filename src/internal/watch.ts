import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as NodeFs from "node:fs"

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
 * coalesce in a one-slot sliding queue: a burst is one read. Where the
 * directory cannot be watched, or the watch fails later (the directory
 * removed), polling at `pollInterval` takes over.
 */
export const hints = (
  dir: string,
  file: string,
  options?: WatchOptions
): Effect.Effect<Stream.Stream<void>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const poll = Stream.fromSchedule(Schedule.spaced(options?.pollInterval ?? defaultPollInterval)).pipe(Stream.as<void>(undefined))
    if (options?.mode === "poll") return poll
    const queue = yield* Effect.acquireRelease(Queue.sliding<boolean>(1), Queue.shutdown)
    const watcher = yield* Effect.acquireRelease(
      Effect.sync(() => {
        try {
          const watcher = NodeFs.watch(dir, { persistent: true }, (_event, name) => {
            if (name === null || name === file) queue.unsafeOffer(true)
          })
          // The watch is gone (say the directory was removed): say so once, and let polling take over.
          watcher.on("error", () => queue.unsafeOffer(false))
          return watcher
        } catch {
          return undefined
        }
      }),
      (watcher) => Effect.sync(() => watcher?.close())
    )
    if (watcher === undefined) return poll
    return Stream.fromQueue(queue).pipe(
      Stream.takeUntil((alive) => !alive),
      Stream.as<void>(undefined),
      Stream.concat(poll)
    )
  })
