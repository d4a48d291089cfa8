import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import type * as Schema from "../Schema.js"
import type { Backend, Content } from "../Store.js"
import * as codec from "./codec.js"

/**
 * The state file's bytes kept in memory: the store core decodes, checks and
 * encodes them exactly as it does the file's, so the memory store cannot
 * accept or return what the file store would not. A version counter is the
 * stamp; nothing needs pinning.
 */
export const make = (initial?: Schema.State): Effect.Effect<Backend> =>
  Effect.gen(function*() {
    let content: Content = { _tag: "Absent", stamp: "0" }
    let version = 0
    if (initial !== undefined) {
      const prepared = codec.prepareWrite(initial)
      if (Either.isLeft(prepared)) return yield* Effect.die(prepared.left)
      content = { _tag: "Bytes", stamp: String(++version), bytes: prepared.right.bytes }
    }
    const mutex = yield* Effect.makeSemaphore(1)
    // Every store over this backend hears of every write, as stores over one file do.
    const replaced = yield* PubSub.sliding<void>(1)
    return {
      path: "memory",
      read: (known) => Effect.sync(() => content.stamp === known ? undefined : content),
      exclusive: (body) =>
        Effect.acquireUseRelease(Effect.interruptible(mutex.take(1)), () => body, () => mutex.release(1)),
      replace: (change) =>
        Effect.sync(() => {
          content = { _tag: "Bytes", stamp: String(++version), bytes: change.next.bytes }
          return content.stamp
        }).pipe(Effect.tap(() => PubSub.publish(replaced, undefined))),
      watch: Effect.map(PubSub.subscribe(replaced), (hints) => Stream.fromQueue(hints))
    }
  })
