/**
 * The PostgreSQL server the StorePg tests run against: `$INCREMENTUM_PG_URL`
 * if set, else the throwaway server of `npm run pg:start` (started here if it
 * is not running; starting it is idempotent). A server that cannot start
 * throws, so the tests fail rather than skip. Each test gets a database of its
 * own.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

let cached: string | undefined

/** The server's URL (its `postgres` database). */
export const serverUrl = (): string => {
  if (cached !== undefined) return cached
  const fromEnv = process.env["INCREMENTUM_PG_URL"]
  if (fromEnv !== undefined && fromEnv !== "") return (cached = fromEnv)
  return (cached = pgStart(process.env))
}

const scripts = path.join(import.meta.dirname, "..", "scripts")

/** Runs pg-start.mjs (idempotent) with `env`; the URL it prints. Throws when the server cannot start. */
const pgStart = (env: NodeJS.ProcessEnv): string => {
  const out = execFileSync(process.execPath, [path.join(scripts, "pg-start.mjs")], {
    encoding: "utf8",
    env,
    stdio: ["ignore", "pipe", "inherit"]
  })
  const last = out.trim().split("\n").at(-1)
  if (last === undefined || !last.startsWith("postgres://")) throw new Error(`pg-start printed no URL: ${out}`)
  return last
}

const pgStop = (env: NodeJS.ProcessEnv, args: ReadonlyArray<string>) =>
  execFileSync(process.execPath, [path.join(scripts, "pg-stop.mjs"), ...args], { env, stdio: ["ignore", "ignore", "inherit"] })

/** A port nothing listens on now. */
const freePort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** A throwaway server of one test's own, which that test may stop and start. */
export interface OwnServer {
  /** Its `postgres` database. */
  readonly url: string
  /** Stops it, keeping its data; `immediate` stops it as a crash would. */
  readonly stop: (mode: "fast" | "immediate") => Effect.Effect<void>
  readonly start: Effect.Effect<void>
}

/**
 * A server of its own on another port and directory (so that stopping it
 * disturbs no other test), removed with the scope. Dies when it cannot
 * start: the test fails rather than skips.
 */
export const ownServer: Effect.Effect<OwnServer, never, Scope.Scope> = Effect.gen(function*() {
  const port = yield* freePort
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-state-pg-own-"))
  const env = { ...process.env, INCREMENTUM_PG_DIR: dir, INCREMENTUM_PG_PORT: String(port) }
  const url = yield* Effect.acquireRelease(
    Effect.sync(() => {
      try {
        return pgStart(env)
      } catch (error) {
        pgStop(env, [])
        throw error
      }
    }),
    () => Effect.sync(() => pgStop(env, []))
  )
  return {
    url,
    stop: (mode) => Effect.sync(() => pgStop(env, mode === "immediate" ? ["--keep", "--immediate"] : ["--keep"])),
    start: Effect.asVoid(Effect.sync(() => pgStart(env)))
  }
})

let counter = 0

/** A fresh, empty database on the server; its URL. */
export const freshDatabase = Effect.gen(function*() {
  const url = serverUrl()
  const name = `t_${process.pid}_${Date.now().toString(36)}_${counter++}`
  yield* Effect.scoped(Effect.gen(function*() {
    const ctx = yield* Layer.build(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))
    const sql = Context_get(ctx)
    yield* sql`CREATE DATABASE ${sql(name)}`
  }))
  const target = new URL(url)
  target.pathname = `/${name}`
  return target.toString()
}).pipe(Effect.orDie)

import * as Context from "effect/Context"
const Context_get = (ctx: Context.Context<PgClient.PgClient>) => Context.get(ctx, PgClient.PgClient)

/** A PgClient on `url`, in the scope. */
export const clientLayer = (url: string) => PgClient.layer({ url: Redacted.make(url), maxConnections: 4 })
