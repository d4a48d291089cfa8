import * as Effect from "effect/Effect"
import * as HashSet from "effect/HashSet"

/**
 * Runs `body` in this step unless the fiber has been interrupted, in which
 * case it fails with the interruption and `body` never runs. Meant for the
 * step of an uninterruptible region that decides to write: an update
 * interrupted before it is writes nothing, and one that got past it cannot
 * be interrupted between its write and recording what it wrote.
 */
export const unlessInterrupted = <A, E, R>(body: () => Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.descriptorWith((fiber) => HashSet.size(fiber.interruptors) > 0 ? Effect.interrupt : body())
