/**
 * The benchmark harness:
 *
 *   tsc -p tsconfig.bench.json && node --expose-gc build/bench/run.js [--quick] [--floor-only] [--sizes 10,1000]
 *
 * For each size, generates the state file into a temp directory, then runs
 * the floor's figures and the store's figures each in fresh child
 * processes (a size's heap must not slow the next, and peak RSS is only
 * meaningful per process), then P = 1, 2, 4, 8 contending processes. Store
 * figures are reported as ratios to the matching floor figure, so they
 * mean something on any machine. Prints tables, and as the last line of
 * stdout one JSON object with every figure, for scripts comparing runs.
 * Exits non-zero if any contention run lost an update.
 *
 * --quick: 10 and 1 000 jobs, fewer runs (under a minute on 2 cores).
 * --floor-only: skip the store (also automatic when build/src/Store.js is missing).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { readCounter } from "./floor.js"
import { generateStateText } from "./generate.js"
import { type Figure, fmt, lastJson, node, table } from "./measure.js"

const argv = process.argv.slice(2)
const quick = argv.includes("--quick")
const sizesAt = argv.indexOf("--sizes")
const sizes = sizesAt >= 0
  ? (argv[sizesAt + 1] ?? "").split(",").map(Number).filter((n) => Number.isInteger(n) && n > 0)
  : quick
  ? [10, 1000]
  : [10, 1000, 10_000]
const here = import.meta.dirname
const storeAvailable = !argv.includes("--floor-only") && fs.existsSync(path.join(here, "..", "src", "Store.js"))
/** Runs per size: enough for a stable median and a p99 that is not just the maximum, within the time budget. */
const runsFor = (jobs: number) => (jobs >= 10_000 ? (quick ? 3 : 9) : jobs >= 1000 ? (quick ? 15 : 45) : quick ? 30 : 90)
/** The RSS workload's length: enough updates and cold loads for the heap to reach its steady peak. */
const rssRunsFor = (jobs: number) => Math.min(runsFor(jobs), 20)

// ---------------------------------------------------------------- helpers

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`
/** Three significant digits: a warm load at 0.0004x the floor must not print as 0x. */
const ratio = (a: number, b: number) => Number((a / b).toPrecision(3))

const say = (line = "") => console.log(line)

interface WorkerFigures {
  readonly figures: Record<string, Figure>
  readonly fileBytes: number
}
interface WorkerRss {
  readonly maxRssBytes: number
  readonly fileBytes: number
}

/** Runs one size worker (`floor-worker.js` or `size-worker.js`) in a fresh process. */
const sizeWorker = (script: string, mode: "figures" | "rss", jobs: number, runs: number, source: string, variant: string) =>
  node([path.join(here, script), mode, String(jobs), String(runs), source, variant]).then(lastJson)

// ---------------------------------------------------------------- floor

/** FLOOR: every single-process floor figure for one size, plus the floor's peak RSS. */
const floorFigures = async (jobs: number, source: string, variant: string) => {
  const timed: WorkerFigures = await sizeWorker("floor-worker.js", "figures", jobs, runsFor(jobs), source, variant)
  const rss: WorkerRss = await sizeWorker("floor-worker.js", "rss", jobs, rssRunsFor(jobs), source, variant)
  return { ...timed, maxRssBytes: rss.maxRssBytes }
}

// ---------------------------------------------------------------- store

/** STORE: the store's figures for one size, plus its peak RSS; undefined when the store is not built. */
const storeFigures = async (jobs: number, source: string, variant: string) => {
  if (!storeAvailable) return undefined
  const timed: WorkerFigures = await sizeWorker("size-worker.js", "figures", jobs, runsFor(jobs), source, variant)
  const rss: WorkerRss = await sizeWorker("size-worker.js", "rss", jobs, rssRunsFor(jobs), source, variant)
  return { ...timed, maxRssBytes: rss.maxRssBytes }
}

/**
 * Store figure → the floor figure it is compared with. Warm load and an
 * unchanged save have no floor counterpart of their own (the floor cannot
 * know a file unchanged), so they are held against the floor's cold read
 * and its update: what a caller pays without the store. The floor figures
 * of operations that touch the disk are the ones timed alternately with
 * the store's, in the store's process (`timePaired`); the floor's own
 * process gives the floor-alone table and the peak RSS.
 */
const pairs: ReadonlyArray<readonly [label: string, store: string, floor: string]> = [
  ["cold load (read + parse)", "coldLoad", "pairedFloorColdLoad"],
  ["warm load (file unchanged)", "warmLoad", "pairedFloorColdLoad"],
  ["no-op update (lock, read, unlock)", "noopUpdate", "pairedFloorNoopUpdate"],
  ["one-field update", "oneFieldUpdate", "pairedFloorUpdate"],
  ["save of an unchanged state", "saveUnchanged", "pairedFloorUpdate"],
  ["decode / JSON.parse", "decode", "jsonParse"],
  ["encode / JSON.stringify", "encode", "jsonStringify"]
]

// ---------------------------------------------------------------- run

const report: Record<string, unknown> = {
  quick,
  store: storeAvailable,
  node: process.version,
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  totalMemBytes: os.totalmem()
}
const failures: Array<string> = []

say(`# incrementum-state benchmarks${quick ? " (--quick)" : ""}${storeAvailable ? "" : " (floor only)"}`)
say(`node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`)

const sizesReport: Record<string, unknown> = {}
for (const jobs of sizes) {
  const sources = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-bench-source-"))
  const source = path.join(sources, "state.json")
  const variant = path.join(sources, "variant.json")
  try {
    // Made here, not in the workers, so generating counts in no measured process's RSS.
    const text = generateStateText(jobs)
    fs.writeFileSync(source, text)
    // Another writer's version: one time changed, same size.
    fs.writeFileSync(variant, text.replace("\"updated_at\": \"2026-", "\"updated_at\": \"2027-"))
    const floor = await floorFigures(jobs, source, variant)
    const store = await storeFigures(jobs, source, variant)
    const mb = floor.fileBytes / 1e6
    const f = floor.figures

    say()
    say(`## ${jobs} jobs (${mb.toFixed(2)} MB, ${runsFor(jobs)} runs)`)
    say()
    const entry: Record<string, unknown> = { fileBytes: floor.fileBytes, runs: runsFor(jobs), floor: f, floorPeakRssBytes: floor.maxRssBytes }
    if (store === undefined) {
      const rows = [["floor operation", "median", "p99"]]
      for (const [label, key] of [
        ["cold read + JSON.parse", "floorColdLoad"],
        ["no-op update (lock, read, parse, unlock)", "floorNoopUpdate"],
        ["update (lock, read, parse, stringify, write, fsync, rename, unlock)", "floorUpdate"],
        ["JSON.parse alone", "jsonParse"],
        ["JSON.stringify alone", "jsonStringify"]
      ] as const) rows.push([label, fmt(f[key]!.medianMs), fmt(f[key]!.p99Ms)])
      say(table(rows))
    } else {
      const s = store.figures
      const rows = [["operation", "store median", "store p99", "floor median", "floor p99", "store / floor"]]
      const ratios: Record<string, number> = {}
      for (const [label, ours, theirs] of pairs) {
        const a = s[ours]!
        // The floor's runs alternated with the store's, in the store's process (see `timePaired`).
        const b = s[theirs] ?? f[theirs]!
        ratios[ours] = ratio(a.medianMs, b.medianMs)
        rows.push([label, fmt(a.medianMs), fmt(a.p99Ms), fmt(b.medianMs), fmt(b.p99Ms), `${ratios[ours]}x`])
      }
      say(table(rows))
      say()
      say(`longest event-loop stall during a one-field update: median ${fmt(s["updateLoopStall"]!.medianMs)}, max ${
        fmt(s["updateLoopStallMax"]!.medianMs)
      } (${s["updateLoopStall"]!.runs} updates, a 1 ms timer watching)`)
      Object.assign(entry, { store: s, ratios, storePeakRssBytes: store.maxRssBytes })
    }
    say()
    const rssRows = [["peak RSS (fresh process)", "bytes", "× file"], [
      "floor",
      mib(floor.maxRssBytes),
      `${ratio(floor.maxRssBytes, floor.fileBytes)}x`
    ]]
    if (store !== undefined) {
      rssRows.push(["store", mib(store.maxRssBytes), `${ratio(store.maxRssBytes, floor.fileBytes)}x`])
      entry["peakRssRatio"] = ratio(store.maxRssBytes, floor.maxRssBytes)
    }
    say(table(rssRows))
    say()
    say(`(workload: one load, ${rssRunsFor(jobs)} updates, ${rssRunsFor(jobs)} cold loads${
      store === undefined ? "" : `; store / floor ${entry["peakRssRatio"]}x`
    })`)
    sizesReport[String(jobs)] = entry
  } finally {
    fs.rmSync(sources, { recursive: true, force: true })
  }
}
report["sizes"] = sizesReport

// ---------------------------------------------------------------- contention

const perWorker = quick ? 100 : 400
/**
 * Each P is run `contentionRounds` times, floor and store alternately, and
 * each mode's median rate reported: the disk's speed drifts over minutes
 * (the floor's own rate at one P moved by 2x between runs), and
 * alternating puts both modes under the same drift.
 */
const contentionRounds = quick ? 1 : 3
/**
 * Untimed updates each worker makes on the shared state before the clock
 * starts. The private warm-up below runs only the uncontended path: with 30
 * here, the store's processes were still optimising the contended one (the
 * lock wait, the re-read of another writer's file) during the timed loop
 * (`--trace-opt`: about 50 functions per process; code space grew 250 kB,
 * none with 300), as a long-running service is not.
 */
const warmup = quick ? 20 : 300
/** Untimed updates each worker makes first on a private copy, so the timed ones run JIT-optimised code (see the worker). */
const privateWarmup = quick ? 200 : 1000
const modes = storeAvailable ? (["floor", "store"] as const) : (["floor"] as const)

/**
 * P processes each doing `perWorker` increments of one counter in a
 * 10-job state, started together. Updates/s over the span from the first
 * start to the last finish; the final count must be exact, or an update
 * was lost and the run fails.
 */
const contend = async (mode: "floor" | "store", p: number): Promise<number> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-contention-"))
  try {
    fs.writeFileSync(path.join(dir, "state.json"), generateStateText(10))
    // Time for P processes to start and warm up on 2 cores before the clock starts (a contended update
    // takes up to about 2 ms there).
    const startAt = Date.now() + 1000 + (privateWarmup > 0 ? 1500 : 250) * p + 2 * warmup * p
    const outs = await Promise.all(
      Array.from(
        { length: p },
        () =>
          node([
            path.join(here, "contention-worker.js"),
            mode,
            dir,
            String(perWorker),
            String(warmup),
            String(startAt),
            String(privateWarmup)
          ])
      )
    )
    const spans = outs.map(lastJson) as Array<{ started: number; finished: number }>
    const seconds = (Math.max(...spans.map((s) => s.finished)) - Math.min(...spans.map((s) => s.started))) / 1000
    const counter = readCounter(dir)
    const expected = p * (perWorker + warmup)
    if (counter !== expected) failures.push(`${mode} P=${p}: counter ${String(counter)}, expected ${expected}: an update was lost`)
    return (p * perWorker) / seconds
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

say()
say(`## contention: P processes × ${perWorker} updates (after ${warmup} untimed) on a 10-job state, median of ${contentionRounds} alternated runs`)
say()
const contention: Record<string, Record<string, number>> = {}
const rows = [["P", ...modes.map((m) => `${m} updates/s`), ...(storeAvailable ? ["store / floor"] : [])]]
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
for (const p of [1, 2, 4, 8]) {
  const runs: Record<string, Array<number>> = {}
  for (let round = 0; round < contentionRounds; round++) {
    for (const mode of modes) (runs[mode] ??= []).push(await contend(mode, p))
  }
  const rates: Record<string, number> = {}
  for (const mode of modes) rates[mode] = median(runs[mode]!)
  const row = [String(p), ...modes.map((m) => rates[m]!.toFixed(0))]
  if (storeAvailable) {
    rates["ratio"] = ratio(rates["store"]!, rates["floor"]!)
    row.push(`${rates["ratio"]}x`)
  }
  contention[String(p)] = rates
  rows.push(row)
}
say(table(rows))
say()
say(failures.length === 0 ? "(final counts were exact in every run)" : `LOST UPDATES:\n${failures.join("\n")}`)
report["contention"] = { perWorker, warmup, rates: contention }

/** Issue 11's targets, side by side from this run (the figures above). */
const targets = () => {
  const small = sizesReport["10"] as { ratios?: Record<string, number> } | undefined
  const largest = sizesReport[String(Math.max(...sizes))] as { store?: Record<string, Figure> } | undefined
  const met = (ok: boolean) => (ok ? "met" : "not met")
  const rows = [["target", "this run", ""]]
  const oneField = small?.ratios?.["oneFieldUpdate"]
  if (oneField !== undefined) rows.push(["one-field update, 10 jobs, at most 1.5x the floor", `${oneField}x`, met(oneField <= 1.5)])
  for (const p of ["4", "8"]) {
    const r = contention[p]?.["ratio"]
    if (r !== undefined) rows.push([`${p} contending processes, at least 0.8x the floor`, `${r}x`, met(r >= 0.8)])
  }
  const cold = small?.ratios?.["coldLoad"]
  if (cold !== undefined) rows.push(["cold load, 10 jobs, at most 2x the floor's read + JSON.parse", `${cold}x`, met(cold <= 2)])
  const stall = largest?.store?.["updateLoopStallMax"]
  if (stall !== undefined) {
    rows.push([`longest event-loop stall, one-field update, ${Math.max(...sizes)} jobs`, fmt(stall.medianMs), "(reported)"])
  }
  return rows
}
if (storeAvailable) {
  say()
  say("## issue 11 targets")
  say()
  say(table(targets()))
}
report["failures"] = failures

console.log(JSON.stringify(report))
if (failures.length > 0) process.exitCode = 1
