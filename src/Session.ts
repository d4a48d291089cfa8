/**
 * Opencode sessions: building them with Go's zero values, their keys, and a
 * store-level update of one session.
 *
 * `make` throws, as `Schema.Struct(...).make` does: it builds records from
 * values written in code, where a bad value is a bug to fix (see `Job`).
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type * as Option from "effect/Option"
import * as records from "./internal/records.js"
import * as Schema from "./Schema.js"
import type { NotFound, StateError } from "./StateError.js"
import type { StateStore } from "./Store.js"
import * as Timestamp from "./Timestamp.js"

/**
 * What `make` needs: `id` and `repo`, and any other field of
 * `Schema.OpencodeSession` to set.
 *
 * @since 0.2.0
 * @category models
 */
export type MakeInput = records.MakeInput<Schema.OpencodeSession, "id" | "repo">

/**
 * A session with Go's zero values for every field not given: status `""`,
 * `Timestamp.zero` for every time, and no `exitCode`, `durationSeconds` or
 * `logPath`. Throws a `ParseError` naming each invalid field.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: (input: MakeInput) => Schema.OpencodeSession = records.constructor<
  Schema.OpencodeSession,
  "id" | "repo"
>(Schema.OpencodeSession, {
  status: "",
  createdAt: Timestamp.zero,
  startedAt: Timestamp.zero,
  updatedAt: Timestamp.zero,
  completedAt: Timestamp.zero
})

/**
 * The session's key in `state.opencodeSessions`: `"<repo>/<id>"`.
 *
 * @since 0.2.0
 * @category getters
 */
export const key = (session: { readonly repo: string; readonly id: string }): string =>
  `${session.repo}/${session.id}`

/**
 * The session stored under `key` (`"<repo>/<id>"`), if any.
 *
 * @since 0.2.0
 * @category getters
 */
export const get: {
  (key: string): (state: Schema.State) => Option.Option<Schema.OpencodeSession>
  (state: Schema.State, key: string): Option.Option<Schema.OpencodeSession>
} = dual(2, (state: Schema.State, key: string) => records.get(state, "opencodeSessions", key))

/**
 * The state with `session` stored under its key, replacing any session
 * there. For building states (a test's seed, say); `update` edits a stored
 * session.
 *
 * @since 0.2.0
 * @category combinators
 */
export const put: {
  (session: Schema.OpencodeSession): (state: Schema.State) => Schema.State
  (state: Schema.State, session: Schema.OpencodeSession): Schema.State
} = dual(
  2,
  (state: Schema.State, session: Schema.OpencodeSession) =>
    records.put(state, "opencodeSessions", key(session), session)
)

/**
 * Updates the session stored under `key` (`"<repo>/<id>"`) in one
 * `StateStore.modifyRecord` and returns it as written, stamping `updatedAt` with
 * `Timestamp.now` when `f` changed the session but not its `updatedAt`;
 * nothing is written when `f` returns the session it was given. Fails with
 * `NotFound` (writing nothing) when there is no such session, or with the
 * store's `StateError`. `f` must keep the session's `repo` and `id`.
 *
 * @since 0.2.0
 * @category store
 */
export const update = (
  key: string,
  f: (session: Schema.OpencodeSession) => Schema.OpencodeSession
): Effect.Effect<Schema.OpencodeSession, NotFound | StateError, StateStore> =>
  records.updateEffect("opencodeSessions", key, (session) => Effect.sync(() => f(session))).pipe(
    Effect.withSpan("Session.update")
  )

/**
 * `update` with an effectful `f`; when `f` fails, nothing is written and its
 * error comes out with its own type.
 *
 * @since 0.2.0
 * @category store
 */
export const updateEffect = <E, R>(
  key: string,
  f: (session: Schema.OpencodeSession) => Effect.Effect<Schema.OpencodeSession, E, R>
): Effect.Effect<Schema.OpencodeSession, E | NotFound | StateError, R | StateStore> =>
  records.updateEffect("opencodeSessions", key, f).pipe(Effect.withSpan("Session.updateEffect"))
