/**
 * The `StateStore` service over PostgreSQL, for several machines sharing
 * one state: the same operations, errors and write rules as the file store
 * (`Store`), built on the same core (`Store.makeWith`).
 *
 * Storage: one row per record (repos, workspaces, sessions, jobs) holding
 * that record's bytes exactly as the Go tool writes them (the encoding of a
 * state holding only that record), a row for the state's unknown top-level
 * fields, and a version counter. A deleted record stays as a row without
 * bytes (a tombstone), so that a reader can catch up by version; the
 * writes that delete purge the tombstones older than `tombstoneVersions`
 * versions, and a reader further behind than the last purge reloads
 * everything. Every
 * update is one transaction serialised by a transaction-level advisory
 * lock; it writes only the records that differ from the state it read,
 * bumps the version and `NOTIFY`s it on the channel `incrementum_state`.
 * A load reads only the rows changed since the version this process last
 * saw: one small query when nothing changed. `changes` hears of other
 * processes' writes by `LISTEN`ing on that channel, on a connection of its
 * own per subscription (outside the pool); a lost connection is reopened on
 * the `retry` schedule, and the state re-read once it listens again. The schema is created and
 * upgraded by `@effect/sql`'s Migrator (table `incrementum_state_migrations`).
 *
 * This module loads `pg`; import it only where the database is used (it is
 * not re-exported from the package's root).
 *
 * @since 0.3.0
 */
import type { SqlClient } from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Schedule from "effect/Schedule"
import * as internal from "./internal/storePg.js"
import { StateIoError } from "./StateError.js"
import * as Store from "./Store.js"

/**
 * Options of the PostgreSQL store.
 *
 * - `lockTimeout`: how long an update waits for the database's advisory
 *   lock before failing with `LockTimeout` (default `Lock.defaultTimeout`).
 * - `retry`: the policy for retrying a refused or lost connection (reading,
 *   opening a transaction, creating the schema, listening for `changes`)
 *   before failing with `StateIoError`; default 3 retries, exponential from
 *   50 ms. A write that failed is never retried: the caller decides. A
 *   `changes` stream fails when its listening connection cannot be reopened
 *   within `retry` (a server restart outlasts the default: give a longer
 *   policy, or resume the stream with `Stream.retry`).
 * - `lockKey`: the advisory lock's key (and `lockKey + 1` for schema
 *   migration), if the default collides with another application's.
 * - `tombstoneVersions`: how many versions the row of a deleted record is
 *   kept (default 1000). A process whose last read is older than the
 *   tombstones purged since reloads the whole state once.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  readonly lockTimeout?: Duration.DurationInput
  readonly retry?: Schedule.Schedule<unknown, StateIoError>
  readonly lockKey?: bigint
  readonly tombstoneVersions?: number
}

/**
 * The PostgreSQL backend alone (see `Store.Backend`), for wrapping before
 * `Store.makeWith`. Creates or upgrades the schema first; fails with
 * `StateIoError` when the database cannot be reached within `retry`. Its
 * `watch` LISTENs on a connection of its own per call, made from the
 * `PgClient`'s configuration (its pool is not exposed), and fails with
 * `StateIoError` when that connection cannot be opened within `retry`.
 *
 * @since 0.3.0
 * @category backend
 */
export const makeBackend: (options?: Options) => Effect.Effect<Store.Backend, StateIoError, PgClient.PgClient> =
  internal.make

/**
 * The PostgreSQL store over the `PgClient` you provide (its pool, its
 * configuration). Fails with `StateIoError` when the schema cannot be
 * created or upgraded.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<Store.StateStore, StateIoError, PgClient.PgClient> =>
  Layer.scoped(
    Store.StateStore,
    Effect.flatMap(internal.make(options), Store.makeWith)
  )

/**
 * The PostgreSQL store at `url` (`postgres://user:password@host:port/db`),
 * with a connection pool of its own, closed with the layer. Fails with
 * `StateIoError` when the server cannot be reached within `retry`, or as
 * `layer`. The URL's password never appears in errors.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerUrl = (
  url: string,
  options?: Options & { readonly client?: Omit<PgClient.PgClientConfig, "url"> }
): Layer.Layer<Store.StateStore | PgClient.PgClient | SqlClient, StateIoError> => {
  const config = { ...options?.client, url: Redacted.make(url) }
  const client = PgClient.layer(config).pipe(
    Layer.mapError((error: SqlError) =>
      new StateIoError({
        operation: "connect",
        path: internal.describeConfig(config),
        reason: error.cause instanceof Error ? error.cause.message : error.message,
        cause: error
      })
    ),
    Layer.retry(options?.retry ?? internal.defaultRetry)
  )
  return Layer.provideMerge(layer(options), client)
}

/**
 * The notification channel every update `NOTIFY`s, with the new version as
 * its payload.
 *
 * @since 0.3.0
 * @category constants
 */
export const channel: string = internal.channel
