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
import { execFileSync } from "node:child_process"
import * as path from "node:path"

let cached: string | undefined

/** The server's URL (its `postgres` database). */
export const serverUrl = (): string => {
  if (cached !== undefined) return cached
  const fromEnv = process.env["INCREMENTUM_PG_URL"]
  if (fromEnv !== undefined && fromEnv !== "") return (cached = fromEnv)
  const script = path.join(import.meta.dirname, "..", "scripts", "pg-start.mjs")
  const out = execFileSync(process.execPath, [script], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] })
  const last = out.trim().split("\n").at(-1)
  if (last === undefined || !last.startsWith("postgres://")) throw new Error(`pg-start printed no URL: ${out}`)
  return (cached = last)
}

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
