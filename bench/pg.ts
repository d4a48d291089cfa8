/**
 * The PostgreSQL store beside the file store, in one run:
 *
 *   npm run bench:pg [-- --jobs 10000] [--runs N] [--quick]
 *
 * Starts the throwaway server with scripts/pg-start.mjs (or uses
 * `$INCREMENTUM_PG_URL`), and gives every measurement a database of its own.
 *
 * - At `--jobs` jobs (default 10 000; `--quick`: 1 000): a one-field
 *   update through `Job.update` (target under 5 ms median) and through
 *   `update(f)`, a load of an unchanged state (target
 *   under 1 ms), and a load after another store's one-field update, each
 *   for both stores, measured in one fresh process (`pg-worker.ts`).
 * - Contention: P = 1, 4 and 8 processes, each doing the same number of
 *   increments of one counter in a 10-job state, through the database
 *   and through the file store (`contention-worker.ts`, modes
 *   "pg" and "store"); updates/s over the span from the first start
 *   to the last finish. The final count must be exact, or the run fails.
 *
 * Prints Markdown tables, then one JSON line with every figure.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Schema from "../src/Schema.js"
import * as Store from "../src/Store.js"
import * as StorePg from "../src/StorePg.js"
import { COUNTER_KEY, readCounter } from "./floor.js"
import { generateStateText } from "./generate.js"
import { type Figure, fmt, lastJson, node, table } from "./measure.js"

const here = import.meta.dirname
const root = path.resolve(here, "..", "..")
const argv = process.argv.slice(2)
const quick = argv.includes("--quick")
const flag = (name: string, fallback: number) => {
  const at = argv.indexOf(name)
  const value = at >= 0 ? Number(argv[at + 1]) : NaN
  return Number.isInteger(value) && value > 0 ? value : fallback
}
const jobs = flag("--jobs", quick ? 1000 : 10_000)
const runs = flag("--runs", quick ? 10 : 20)
const perWorker = quick ? 100 : 250
const warmup = 20

const serverUrl = (): string => {
  const fromEnv = process.env["INCREMENTUM_PG_URL"]
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv
  const out = execFileSync(process.execPath, [path.join(root, "scripts", "pg-start.mjs")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"]
  })
  const last = out.trim().split("\n").at(-1)
  if (last === undefined || !last.startsWith("postgres://")) throw new Error(`pg-start printed no URL: ${out}`)
  return last
}
const server = serverUrl()

/** Runs `f` with a client on the server's own database (to create and drop the benchmark's). */
const onServer = <A>(f: (sql: PgClient.PgClient) => Effect.Effect<A, unknown>) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const ctx = yield* Layer.build(PgClient.layer({ url: Redacted.make(server), maxConnections: 1 }))
    return yield* f(Context.get(ctx, PgClient.PgClient))
  })))

let databases = 0
/** A fresh database, dropped after `use`. */
const withDatabase = async <A>(use: (url: string) => Promise<A>): Promise<A> => {
  const name = `bench_${process.pid}_${databases++}`
  await onServer((sql) => sql`CREATE DATABASE ${sql(name)}`)
  const url = new URL(server)
  url.pathname = `/${name}`
  try {
    return await use(url.toString())
  } finally {
    await onServer((sql) => sql`DROP DATABASE ${sql(name)} WITH (FORCE)`)
  }
}

const say = (line = "") => console.log(line)

const report: Record<string, unknown> = {
  quick,
  node: process.version,
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  server: await onServer((sql) => sql<{ version: string }>`SELECT version()`).then((rows) => rows[0]?.version)
}
const failures: Array<string> = []
say(`# PostgreSQL store beside the file store${quick ? " (--quick)" : ""}`)
say(`node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model}; ${String(report["server"]).split(",")[0]}`)

// ---------------------------------------------------------------- one state, both stores

const work = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-bench-pg-"))
try {
  const source = path.join(work, "state.json")
  fs.writeFileSync(source, generateStateText(jobs))
  const mb = fs.statSync(source).size / 1e6
  const figures = await withDatabase((url) => node([path.join(here, "pg-worker.js"), url, String(runs), source]).then(lastJson)) as {
    floor: Record<string, Figure>
    pg: Record<string, Figure>
    file: Record<string, Figure>
  }
  const targets: Record<string, number> = { oneFieldUpdate: 5, warmLoad: 1 }
  say()
  say(`## ${jobs} jobs (${mb.toFixed(1)} MB as state.json), ${runs} runs (the database store's updates ${runs * 10}, warm load ${runs * 10})`)
  say()
  const rows = [["operation", "PostgreSQL median", "p99", "file median", "p99", "PostgreSQL target"]]
  for (
    const [label, key] of [
      ["one-field update (Job.update: one record)", "oneFieldUpdate"],
      ["the same through update(f) (the whole state)", "oneFieldUpdateWhole"],
      ["load, nothing changed", "warmLoad"],
      ["load after another store's one-field update", "loadAfterOtherWrite"]
    ] as const
  ) {
    const pg = figures.pg[key]!
    const file = figures.file[key]!
    const target = targets[key]
    rows.push([
      label,
      fmt(pg.medianMs),
      fmt(pg.p99Ms),
      fmt(file.medianMs),
      fmt(file.p99Ms),
      target === undefined ? "-" : `< ${target} ms: ${pg.medianMs < target ? "met" : "MISSED"}`
    ])
  }
  say(table(rows))
  say()
  const floorRows = [["what bounds it (same server, one connection)", "median", "p99"]]
  for (
    const [label, key] of [
      ["one round trip (SELECT 1)", "roundTrip"],
      ["one committed one-row UPDATE (round trip + WAL fsync)", "commit"],
      ["BEGIN, advisory lock, UPDATE, COMMIT", "lockedCommit"]
    ] as const
  ) floorRows.push([label, fmt(figures.floor[key]!.medianMs), fmt(figures.floor[key]!.p99Ms)])
  say(table(floorRows))
  report["state"] = { jobs, bytes: fs.statSync(source).size, runs, ...figures }
} finally {
  fs.rmSync(work, { recursive: true, force: true })
}

// ---------------------------------------------------------------- contention

const small = generateStateText(10)

/** P processes × `perWorker` increments through `mode`'s store; updates/s, and the final count checked. */
const contend = async (mode: "pg" | "file", p: number): Promise<number> => {
  const startAt = () => Date.now() + 1500 + 300 * p
  const spansOf = (outs: ReadonlyArray<string>) => {
    const spans = outs.map(lastJson) as Array<{ started: number; finished: number }>
    return (Math.max(...spans.map((s) => s.finished)) - Math.min(...spans.map((s) => s.started))) / 1000
  }
  const expected = p * (perWorker + warmup)
  if (mode === "file") {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-bench-pg-contention-"))
    try {
      fs.writeFileSync(path.join(dir, "state.json"), small)
      const at = startAt()
      const outs = await Promise.all(Array.from({ length: p }, () =>
        node([path.join(here, "contention-worker.js"), "store", dir, String(perWorker), String(warmup), String(at)])
      ))
      const counter = readCounter(dir)
      if (counter !== expected) failures.push(`file P=${p}: counter ${String(counter)}, expected ${expected}`)
      return (p * perWorker) / spansOf(outs)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
  return withDatabase(async (url) => {
    const seeded = Either.getOrThrow(Schema.decodeEither(small))
    const inDatabase = <A, E>(f: (store: Store.StateStoreService) => Effect.Effect<A, E>) =>
      Effect.runPromise(Effect.flatMap(Store.StateStore, f).pipe(Effect.provide(StorePg.layerUrl(url))))
    await inDatabase((store) => store.save(seeded))
    const at = startAt()
    const outs = await Promise.all(Array.from({ length: p }, () =>
      node([path.join(here, "contention-worker.js"), "pg", url, String(perWorker), String(warmup), String(at)])
    ))
    const counter = await inDatabase((store) => Effect.map(store.load, (s) => s.unknownFields?.[COUNTER_KEY]))
    if (counter !== expected) failures.push(`PostgreSQL P=${p}: counter ${String(counter)}, expected ${expected}`)
    return (p * perWorker) / spansOf(outs)
  })
}

say()
say(`## contention: P processes × ${perWorker} updates (after ${warmup} untimed) on a 10-job state`)
say()
const contention: Record<string, Record<string, number>> = {}
const rows = [["P", "PostgreSQL updates/s", "file updates/s", "PostgreSQL / file"]]
for (const p of [1, 4, 8]) {
  const pg = await contend("pg", p)
  const file = await contend("file", p)
  contention[String(p)] = { pg, file }
  rows.push([String(p), pg.toFixed(0), file.toFixed(0), `${(pg / file).toPrecision(3)}x`])
}
say(table(rows))
say()
say(failures.length === 0 ? "(final counts were exact in every run)" : `LOST UPDATES:\n${failures.join("\n")}`)
report["contention"] = { perWorker, warmup, rates: contention }
report["failures"] = failures
console.log(JSON.stringify(report))
if (failures.length > 0) process.exitCode = 1
