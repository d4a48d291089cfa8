import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Pg from "pg"
import * as Lock from "../Lock.js"
import type * as Schema from "../Schema.js"
import { CorruptStateFile, LockTimeout, StateIoError } from "../StateError.js"
import type { Backend, Change, Content } from "../Store.js"
import * as codec from "./codec.js"
import * as Format from "./format.js"

/** See `StorePg.Options`. */
export interface Options {
  readonly lockTimeout?: Duration.DurationInput
  readonly retry?: Schedule.Schedule<unknown, StateIoError>
  readonly lockKey?: bigint
  readonly tombstoneVersions?: number
}

export const recordsTable = "incrementum_state_records"
export const versionTable = "incrementum_state_version"
export const migrationsTable = "incrementum_state_migrations"
export const channel = "incrementum_state"
/**
 * How many versions a deleted record's tombstone outlives its deletion: a
 * reader further behind than that reloads everything (see `purge`).
 */
export const defaultTombstoneVersions = 1000
/** The `application_name` of the connections that LISTEN, so that an operator (or a test) can find them. */
export const listenApplicationName = "incrementum-state listen"
/** "incr" in ASCII: the advisory lock every writer of this database's state takes. */
export const defaultLockKey = 0x696e6372n
/** The row holding the state's own unknown top-level fields. */
const topKind = "$"

type MapName = (typeof Format.maps)[number]["name"]
const mapNames: ReadonlyArray<MapName> = Format.maps.map((m) => m.name)
const mapKeyOf: Record<string, string> = Object.fromEntries(Format.maps.map((m) => [m.name, m.key]))

/** Connection errors are retried by this policy unless the caller sets one. */
export const defaultRetry: Schedule.Schedule<unknown, StateIoError> = Schedule.intersect(
  Schedule.exponential(Duration.millis(50)),
  Schedule.recurs(3)
)

const lockNotAvailable = "55P03"

const sqlCode = (error: SqlError): string | undefined => {
  const cause = error.cause
  return typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string"
    ? cause.code
    : undefined
}

const ioError = (operation: string, path: string) => (error: SqlError) =>
  new StateIoError({
    operation,
    path,
    reason: error.cause instanceof Error ? error.cause.message : error.message,
    cause: error
  })

/** The schema: one row per record (a deleted record stays as a tombstone, so readers can catch up by version). */
const migrations = Migrator.fromRecord({
  "1_records": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE ${sql(versionTable)} (id int PRIMARY KEY CHECK (id = 1), version bigint NOT NULL)`
    yield* sql`INSERT INTO ${sql(versionTable)} (id, version) VALUES (1, 0)`
    yield* sql`CREATE TABLE ${sql(recordsTable)} (
      kind text NOT NULL,
      key text NOT NULL,
      body bytea,
      version bigint NOT NULL,
      PRIMARY KEY (kind, key)
    )`
    yield* sql`CREATE INDEX ${sql(recordsTable + "_version")} ON ${sql(recordsTable)} (version)`
  }),
  // Tombstones are purged once older than `tombstoneVersions`; a reader that last saw a version at or below
  // `purged_through` may have missed a deletion whose tombstone is gone, so it reloads everything.
  "2_tombstone_purge": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`ALTER TABLE ${sql(versionTable)} ADD COLUMN purged_through bigint NOT NULL DEFAULT 0`
    yield* sql`CREATE INDEX ${sql(recordsTable + "_tombstones")} ON ${sql(recordsTable)} (version) WHERE body IS NULL`
  })
})

/**
 * Creates or upgrades the schema. Concurrent callers (several processes
 * starting at once) take turns on a session advisory lock held on a
 * connection of its own: the Migrator cannot run inside a transaction of
 * ours, as its probe for the migrations table is an expected error.
 */
export const migrate = (lockKey: bigint) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const conn = yield* sql.reserve
    const q = <A>(statement: Statement.Statement<A>) =>
      Effect.provideService(statement, SqlClient.TransactionConnection, [conn, 1] as const)
    yield* Effect.acquireRelease(
      q(sql`SELECT pg_advisory_lock(${lockKey + 1n})`),
      () => Effect.ignore(q(sql`SELECT pg_advisory_unlock(${lockKey + 1n})`))
    )
    yield* Migrator.make({})({ loader: migrations, table: migrationsTable })
  }).pipe(Effect.scoped)

interface Tx {
  readonly conn: Connection
  done: boolean
}

/** The transaction `exclusive` opened, for the `replace` inside it. */
const currentTx = FiberRef.unsafeMake<Tx | undefined>(undefined)

interface Row {
  readonly version: string
  readonly purged: string
  readonly kind: string | null
  readonly key: string | null
  readonly body: Uint8Array | null
}

interface Cached {
  readonly version: bigint
  readonly state: Schema.State
}

/** One record's bytes: the Go tool's encoding of a state holding only that record. */
const encodeRecord = (name: MapName, key: string, record: unknown): Buffer =>
  codec.encodeBytes({ ...codec.emptyState, [name]: { [key]: record } } as Schema.State)

const encodeTop = (state: Schema.State): Buffer =>
  codec.encodeBytes(
    state.unknownFields === undefined ? codec.emptyState : { ...codec.emptyState, unknownFields: state.unknownFields }
  )

/** The records of `change` that differ (by identity: the store keeps unchanged records the same objects). */
export const changedRows = (change: Change) => {
  const rows: Array<{ kind: string; key: string; body: Buffer | null }> = []
  if (change.records !== undefined) {
    // The store says exactly what changed: its records' rows, and the states are never built. The last edit
    // of a key wins, as one row per key is what a statement can write.
    const last = new Map<string, (typeof rows)[number]>()
    for (const edit of change.records) {
      last.set(`${edit.map}\u0000${edit.key}`, {
        kind: edit.map,
        key: edit.key,
        body: edit.record === undefined ? null : encodeRecord(edit.map, edit.key, edit.record)
      })
    }
    return [...last.values()]
  }
  const previous = change.previous.state
  const next = change.next.state
  for (const name of mapNames) {
    const before = previous[name] as Record<string, unknown>
    const after = next[name] as Record<string, unknown>
    if (before === after) continue
    let kept = 0
    for (const key in after) {
      const record = after[key]
      const old = before[key]
      if (old !== undefined) kept++
      if (old !== record) rows.push({ kind: name, key, body: encodeRecord(name, key, record) })
    }
    // Every key of `before` is still in `after` when as many were found as `before` has: no walk for deletions.
    if (kept !== codec.mapSize(before)) {
      for (const key in before) {
        if (!(key in after)) rows.push({ kind: name, key, body: null })
      }
    }
  }
  if (previous.unknownFields !== next.unknownFields) rows.push({ kind: topKind, key: "", body: encodeTop(next) })
  return rows
}

const emptyMap = (): Record<string, unknown> => Object.create(null)

/** `base` with the rows read applied; `undefined` when no row changes it. */
const apply = (
  base: Schema.State,
  rows: ReadonlyArray<Row>,
  path: string
): Either.Either<Schema.State, CorruptStateFile> => {
  let top: Schema.State | undefined
  const maps = new Map<MapName, Record<string, unknown>>()
  for (const row of rows) {
    if (row.kind === null || row.key === null) continue
    if (row.kind === topKind) {
      if (row.body === null) continue
      const decoded = codec.decode(row.body, path)
      if (Either.isLeft(decoded)) return Either.left(decoded.left)
      top = decoded.right.state
      continue
    }
    const name = row.kind as MapName
    if (!mapNames.includes(name)) {
      return Either.left(
        new CorruptStateFile({ path, jsonPath: "$", expected: "a record kind", found: JSON.stringify(row.kind) })
      )
    }
    let map = maps.get(name)
    if (map === undefined) {
      map = emptyMap()
      Object.assign(map, base[name])
      maps.set(name, map)
    }
    if (row.body === null) {
      delete map[row.key]
      continue
    }
    const decoded = codec.decode(row.body, path)
    if (Either.isLeft(decoded)) return Either.left(decoded.left)
    const record = (decoded.right.state[name] as Record<string, unknown>)[row.key]
    if (record === undefined) {
      return Either.left(
        new CorruptStateFile({
          path,
          jsonPath: `${mapKeyOf[name]}[${JSON.stringify(row.key)}]`,
          expected: "the record stored under this key",
          found: "another key"
        })
      )
    }
    map[row.key] = record
  }
  let state: Schema.State = base
  if (top !== undefined) {
    const { unknownFields: _, ...rest } = base
    state = top.unknownFields === undefined ? rest : { ...rest, unknownFields: top.unknownFields }
  }
  if (maps.size > 0) state = { ...state, ...Object.fromEntries(maps) }
  return Either.right(state)
}

/** A connection URL without its password, for error messages. */
export const describeConfig = (config: PgClient.PgClientConfig): string => {
  if (config.url !== undefined) {
    try {
      const url = new URL(Redacted.value(config.url))
      url.password = ""
      return url.toString()
    } catch {
      return "postgres"
    }
  }
  return `postgres://${config.host ?? "localhost"}:${config.port ?? 5432}/${config.database ?? ""}`
}

/** The settings of `config` for a `pg.Client` of our own (the pool's are not exposed), keeping the connection alive. */
const listenClientConfig = (config: PgClient.PgClientConfig): Pg.ClientConfig => {
  const settings: Pg.ClientConfig = {
    application_name: listenApplicationName,
    // A connection dropped without a word (a NAT, a failover) is found by TCP keepalive only: start probing
    // after 10 s idle rather than the system's two hours (Linux then gives up after its 9 probes 75 s apart).
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    connectionTimeoutMillis: Duration.toMillis(config.connectTimeout ?? defaultConnectTimeout)
  }
  if (config.url !== undefined) settings.connectionString = Redacted.value(config.url)
  if (config.host !== undefined) settings.host = config.host
  if (config.port !== undefined) settings.port = config.port
  if (config.database !== undefined) settings.database = config.database
  if (config.username !== undefined) settings.user = config.username
  if (config.password !== undefined) settings.password = Redacted.value(config.password)
  if (config.ssl !== undefined) settings.ssl = config.ssl
  if (config.stream !== undefined) settings.stream = config.stream
  return settings
}

/** As `PgClient`'s own: how long opening a connection (and its LISTEN) may take. */
const defaultConnectTimeout = Duration.seconds(5)

/**
 * Hints that the state may have changed, from `LISTEN` on a connection of
 * its own (see `Backend.watch`).
 *
 * Not `PgClient.listen` (@effect/sql-pg 0.53): its stream LISTENs only once
 * it is run, too late to order against the store's first read (so a
 * notification sent in between is lost, and a wait for one hangs); it
 * ignores empty payloads; its connection is shared by every listener of the
 * client, and it swallows that connection's errors, so a lost connection
 * neither fails nor ends the stream: it goes silent for good. (Its
 * `notify` fails outright: NOTIFY takes no bind parameter.)
 *
 * The LISTEN is in place before this effect returns. When the connection is
 * lost (the server restarted, the connection terminated) it is opened again
 * on the `retry` schedule and, once it LISTENs, one hint is emitted: the
 * notifications sent meanwhile are lost, so the store re-reads. When `retry`
 * gives up, the stream fails with `StateIoError`. Hints coalesce in a
 * one-slot sliding queue: a burst is one read.
 */
export const listen = (
  config: PgClient.PgClientConfig,
  path: string,
  retry: Schedule.Schedule<unknown, StateIoError>
): Effect.Effect<Stream.Stream<void, StateIoError>, StateIoError, Scope.Scope> =>
  Effect.gen(function*() {
    const hints = yield* Effect.acquireRelease(Queue.sliding<Either.Either<void, StateIoError>>(1), Queue.shutdown)
    const hint = Either.right<void>(undefined)
    const timeout = config.connectTimeout ?? defaultConnectTimeout
    const failed = (cause: unknown) =>
      new StateIoError({ operation: "listen", path, reason: cause instanceof Error ? cause.message : String(cause), cause })

    /** A connection that LISTENs, in the scope; the Deferred completes when the connection is gone. */
    const connectOnce = Effect.gen(function*() {
      const lost = yield* Deferred.make<void>()
      const client = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const client = new Pg.Client(listenClientConfig(config))
          client.on("notification", (message) => {
            if (message.channel === channel) hints.unsafeOffer(hint)
          })
          // Attached for the client's whole life: an "error" without a listener would crash the process.
          client.on("error", () => Deferred.unsafeDone(lost, Exit.void))
          client.on("end", () => Deferred.unsafeDone(lost, Exit.void))
          return client
        }),
        (client) => Effect.promise(() => client.end()).pipe(Effect.interruptible, Effect.timeoutOption(1000))
      )
      yield* Effect.tryPromise({
        try: async () => {
          await client.connect()
          await client.query(`LISTEN ${Pg.escapeIdentifier(channel)}`)
        },
        catch: failed
      }).pipe(Effect.timeoutFail({ duration: timeout, onTimeout: () => failed(new Error("connection timed out")) }))
      return lost
    })
    /** `connectOnce` on the `retry` schedule, each attempt in a scope of its own: a failed one's client is ended at once. */
    const connect = Effect.gen(function*() {
      const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
      return yield* connectOnce.pipe(
        Scope.extend(scope),
        Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause)))
      )
    }).pipe(Effect.retry(retry))

    const established = yield* Deferred.make<void, StateIoError>()
    const sessions = Effect.gen(function*() {
      for (let first = true;; first = false) {
        const exit = yield* Effect.exit(Effect.scoped(Effect.gen(function*() {
          const lost = yield* connect
          if (first) yield* Deferred.succeed(established, undefined)
          else yield* Queue.offer(hints, hint)
          yield* Deferred.await(lost)
        })))
        if (Exit.isFailure(exit)) {
          if (first) return yield* Deferred.failCause(established, exit.cause)
          const error = Cause.failureOption(exit.cause)
          return yield* Queue.offer(hints, Either.left(Option.isSome(error) ? error.value : failed(Cause.squash(exit.cause))))
        }
      }
    })
    yield* Effect.forkScoped(sessions)
    yield* Deferred.await(established)
    return Stream.fromQueue(hints).pipe(Stream.mapEffect((next) => next))
  })

/**
 * The PostgreSQL backend: see `StorePg`. The version row's counter is the
 * stamp; the backend keeps the last state it read or wrote, so a read
 * fetches only the rows whose version is newer.
 */
export const make = (options: Options = {}) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const path = describeConfig(sql.config)
    const lockKey = options.lockKey ?? defaultLockKey
    const timeout = Duration.decode(options.lockTimeout ?? Lock.defaultTimeout)
    const retry = options.retry ?? defaultRetry
    const slice = Math.max(1, Math.min(200, Math.ceil(Duration.toMillis(timeout))))
    const tombstoneVersions = BigInt(Math.max(0, Math.floor(options.tombstoneVersions ?? defaultTombstoneVersions)))
    let cache: Cached = { version: 0n, state: codec.emptyState }
    /** Set from just before a COMMIT of ours until its state is in `cache`. */
    let committing: Deferred.Deferred<void> | undefined

    yield* migrate(lockKey).pipe(
      Effect.provideService(SqlClient.SqlClient, sql),
      Effect.mapError((error) =>
        new StateIoError({ operation: "migrate", path, reason: String(error.message), cause: error })
      ),
      Effect.retry(retry)
    )

    const on = (conn: Connection) => <A>(statement: Statement.Statement<A>) =>
      Effect.provideService(statement, SqlClient.TransactionConnection, [conn, 1] as const)

    const runIn = <A>(tx: Tx | undefined, statement: Statement.Statement<A>): Effect.Effect<ReadonlyArray<A>, SqlError> =>
      tx === undefined ? statement : on(tx.conn)(statement)

    const read: Backend["read"] = (known) =>
      Effect.suspend(() => readSince(known))

    const readSince = (known: string | undefined): Effect.Effect<Content | undefined, StateIoError | CorruptStateFile> =>
      Effect.gen(function*() {
        const base = cache
        // Inside `exclusive`, on its connection: in its transaction, and not waiting for a pool whose other
        // connections may all be waiting for the lock this transaction holds.
        const tx = yield* FiberRef.get(currentTx)
        const rows = yield* runIn(tx, sql<Row>`
          SELECT v.version::text AS version, v.purged_through::text AS purged, r.kind, r.key, r.body
          FROM ${sql(versionTable)} v
          LEFT JOIN ${sql(recordsTable)} r ON r.version > ${base.version.toString()}::bigint
          WHERE v.id = 1`).pipe(Effect.mapError(ioError("read", path)), Effect.retry(retry))
        const first = rows[0]
        if (first === undefined) {
          return yield* new CorruptStateFile({ path, jsonPath: "$", expected: "a version row", found: "none" })
        }
        const version = BigInt(first.version)
        // The database was emptied and refilled behind us, or tombstones newer than our version were purged
        // (a deletion we have not seen may have left no row): start again from nothing.
        if (version < base.version || (base.version > 0n && base.version < BigInt(first.purged))) {
          cache = { version: 0n, state: codec.emptyState }
          return yield* readSince(known)
        }
        if (version === 0n) return known === "0" ? undefined : { _tag: "Absent", stamp: "0" } as const
        // Read only when needed: a state left by a record write is built when first read.
        if (version === base.version && first.version === known) return undefined
        let state: Schema.State
        if (version === base.version) {
          state = base.state
        } else {
          // This version may be this backend's own write, committed but not yet recorded: wait for it, so that
          // the store is handed the very object it wrote (it tells states apart by identity), not an equal copy
          // that `changes` would emit a second time.
          if (committing !== undefined) yield* Deferred.await(committing)
          if (cache.version === version) {
            state = cache.state
          } else {
            state = yield* apply(base.state, rows, path)
            if (version > cache.version) cache = { version, state }
          }
        }
        return first.version === known ? undefined : { _tag: "Decoded", stamp: first.version, state } as const
      })

    /** Opens the transaction and takes the lock, in a scope of its own that is closed if this fails. */
    const begin = Effect.gen(function*() {
      const scope = yield* Scope.make()
      const opened = yield* Effect.gen(function*() {
        // Uninterruptible: @effect/sql-pg 0.53 leaks the pool client when `reserve` is interrupted while
        // the pool is connecting (the client arrives after the interruption and is never released).
        const conn = yield* Effect.uninterruptible(sql.reserve)
        const tx: Tx = { conn, done: false }
        const q = on(conn)
        yield* Effect.addFinalizer(() => tx.done ? Effect.void : Effect.ignore(q(sql`ROLLBACK`)))
        yield* q(sql`BEGIN`)
        return tx
      }).pipe(Scope.extend(scope), Effect.mapError(ioError("begin", path)), Effect.onError(() => Scope.close(scope, Exit.void)))
      return { tx: opened, scope }
    }).pipe(Effect.retry(retry))

    const exclusive: Backend["exclusive"] = <A, E, R>(body: Effect.Effect<A, E, R>) =>
      Effect.acquireUseRelease(
        Effect.interruptible(Effect.flatMap(Clock.currentTimeMillis, (start) => {
          // Each attempt is a transaction of its own, which the lock is the first statement of: a lock wait
          // that timed out aborts its transaction, and a fresh one costs nothing on the common path, where a
          // savepoint to roll back to would cost a round trip on every write.
          // The server waits at most `slice` at a time, so that an interrupted wait whose cancel request
          // missed its query still frees the connection (and our ROLLBACK) within `slice`.
          // Opened and handed on with no interruption in between: only the waits (`begin`, the lock) can be
          // interrupted, and the transaction's scope is closed on every way out but success.
          const attempt: Effect.Effect<{ readonly tx: Tx; readonly scope: Scope.CloseableScope }, LockTimeout | StateIoError> =
            Effect.uninterruptibleMask((restore) =>
              Effect.flatMap(restore(begin), (opened) =>
                // The lock_timeout is set in the lock's own round trip (the FROM runs first).
                restore(on(opened.tx.conn)(sql`
                  SELECT pg_advisory_xact_lock(${lockKey}) FROM (SELECT set_config('lock_timeout', ${`${slice}ms`}, true)) AS timeout`)).pipe(
                  Effect.onError(() => Scope.close(opened.scope, Exit.void)),
                  Effect.either,
                  Effect.flatMap((locked) => {
                    if (Either.isRight(locked)) return Effect.succeed(opened)
                    return Effect.zipRight(
                      Scope.close(opened.scope, Exit.void),
                      sqlCode(locked.left) !== lockNotAvailable
                        ? Effect.fail(ioError("lock", path)(locked.left))
                        : Effect.flatMap(Clock.currentTimeMillis, (now) =>
                          now - start >= Duration.toMillis(timeout)
                            ? Effect.fail(new LockTimeout({ path, waitedMillis: now - start }))
                            : restore(attempt))
                    )
                  })
                ))
            )
          return attempt
        })),
        ({ tx }) => Effect.locally(body, currentTx, tx),
        ({ scope }) => Scope.close(scope, Exit.void)
      )

    const replace: Backend["replace"] = (change) =>
      Effect.gen(function*() {
        const tx = yield* FiberRef.get(currentTx)
        if (tx === undefined) return yield* Effect.dieMessage("StorePg: replace outside exclusive")
        const q = on(tx.conn)
        const rows = changedRows(change)
        // One round trip: bump the version, write the changed rows at it, and NOTIFY it (delivered at COMMIT).
        // The rows go as three array parameters, so no statement outgrows the protocol's 65 535 parameters.
        const [bumped] = yield* q(sql<{ version: string }>`
          WITH bumped AS (
            UPDATE ${sql(versionTable)} SET version = version + 1 WHERE id = 1 RETURNING version
          ), written AS (
            INSERT INTO ${sql(recordsTable)} (kind, key, body, version)
            SELECT r.kind, r.key, r.body, bumped.version
            FROM unnest(${rows.map((row) => row.kind)}::text[], ${rows.map((row) => row.key)}::text[],
              ${rows.map((row) => row.body)}::bytea[]) AS r (kind, key, body), bumped
            ON CONFLICT (kind, key) DO UPDATE SET body = EXCLUDED.body, version = EXCLUDED.version
          )
          SELECT version::text AS version, pg_notify(${channel}, version::text) FROM bumped`)
        const version = bumped!.version
        if (rows.some((row) => row.body === null) && BigInt(version) > tombstoneVersions) {
          yield* purge(q, BigInt(version) - tombstoneVersions)
        }
        const committed = yield* Deferred.make<void>()
        committing = committed
        yield* q(sql`COMMIT`).pipe(
          Effect.tap(() => {
            tx.done = true
            const v = BigInt(version)
            // `next` builds its state when first read (after a record write), so the cache keeps it, not its state.
            const next = change.next
            if (v > cache.version) {
              cache = {
                version: v,
                get state() {
                  return next.state
                }
              }
            }
          }),
          Effect.ensuring(Effect.suspend(() => {
            if (committing === committed) committing = undefined
            return Deferred.succeed(committed, undefined)
          }))
        )
        return version
      }).pipe(Effect.mapError(ioError("write", path)))

    /**
     * Deletes the tombstones at or below `through`, and records that it did
     * (`purged_through`) so that a reader which last saw an older version
     * reloads everything. Run by the writes that delete, so that the
     * tombstones left are at most those of the last `tombstoneVersions`
     * versions.
     */
    const purge = (q: ReturnType<typeof on>, through: bigint) =>
      q(sql`
        WITH purged AS (
          DELETE FROM ${sql(recordsTable)} WHERE body IS NULL AND version <= ${through.toString()}::bigint RETURNING 1
        )
        UPDATE ${sql(versionTable)} SET purged_through = ${through.toString()}::bigint
        WHERE id = 1 AND purged_through < ${through.toString()}::bigint AND EXISTS (SELECT 1 FROM purged)`)

    const watch = listen(sql.config, path, retry)

    // Rows are encoded record by record (`changedRows`): the whole state's encoding would go unread.
    const backend: Backend = { path, read, exclusive, replace, watch, needsBytes: false }
    return backend
  })
