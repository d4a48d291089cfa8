/**
 * Timing and measuring helpers shared by the benchmark workers. Every
 * figure is a median and a p99 of repeated runs (process.hrtime.bigint), so
 * one GC pause or fsync stall shows in the p99 without moving the median.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"

/** Summary of one operation's runs, in milliseconds. */
export interface Figure {
  readonly medianMs: number
  readonly p99Ms: number
  readonly runs: number
}

const quantile = (sorted: ReadonlyArray<number>, q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!

/** Summarises raw timings (ms); nearest-rank quantiles, so a figure is always a measured run. */
export const summarize = (timings: ReadonlyArray<number>): Figure => {
  const sorted = [...timings].sort((a, b) => a - b)
  return { medianMs: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99), runs: sorted.length }
}

/**
 * Untimed runs before each figure, unless a call says otherwise: 50, or
 * `runs` if fewer (a 73 MB update is not repeated fifty times). A worker
 * for a small state sets more (`setWarmup`): there each run is short, and
 * the store's path is JavaScript the JIT optimises only after some hundreds
 * of runs (a reload of 10 jobs: 358-370 µs after 350 runs, 192 µs after
 * 3 000, in one process here), while the floor's is native JSON and system
 * calls, the same either way. Both sides get the same warm-up.
 */
let warmupRuns: number | undefined
export const setWarmup = (runs: number): void => {
  warmupRuns = runs
}
const defaultWarmup = (runs: number) => warmupRuns ?? Math.min(50, runs)

/** Options of `timeSync` / `timeAsync`. */
export interface TimeOptions {
  /** Untimed runs first (JIT, caches; default: see `setWarmup`), numbered from `-warmup` to -1. */
  readonly warmup?: number
  /** Untimed set-up before each run, e.g. another writer replacing the file. */
  readonly before?: (i: number) => void
}

/**
 * Times `runs` calls of `f(i)`. Pass the operation itself, so the floor and
 * the store are timed by the same loop and their figures are comparable.
 */
export const timeSync = (runs: number, f: (i: number) => void, options: TimeOptions = {}): Figure => {
  const warmup = options.warmup ?? defaultWarmup(runs)
  const timings: Array<number> = []
  for (let i = -warmup; i < runs; i++) {
    options.before?.(i)
    const start = process.hrtime.bigint()
    f(i)
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    if (i >= 0) timings.push(ms)
  }
  return summarize(timings)
}

/**
 * Times the store's operation and the floor's counterpart alternately, run
 * by run (each with its own untimed `before`), so both meet the same disk
 * and the same machine load. A ratio of figures taken minutes apart, in
 * different processes, moved by 2x and more between identical runs here
 * (an fsync's cost drifts with what the disk and the other processes do);
 * alternating removes that drift from the ratio.
 */
export const timePaired = async (
  runs: number,
  store: { readonly run: (i: number) => Promise<unknown>; readonly before?: (i: number) => void },
  floor: { readonly run: (i: number) => void; readonly before?: (i: number) => void },
  warmup = defaultWarmup(runs)
): Promise<{ readonly store: Figure; readonly floor: Figure }> => {
  const ours: Array<number> = []
  const theirs: Array<number> = []
  for (let i = -warmup; i < runs; i++) {
    store.before?.(i)
    let start = process.hrtime.bigint()
    await store.run(i)
    const a = Number(process.hrtime.bigint() - start) / 1e6
    floor.before?.(i)
    start = process.hrtime.bigint()
    floor.run(i)
    const b = Number(process.hrtime.bigint() - start) / 1e6
    if (i >= 0) {
      ours.push(a)
      theirs.push(b)
    }
  }
  return { store: summarize(ours), floor: summarize(theirs) }
}

/** `timeSync` for operations that return a promise (the store's, run through Effect). */
export const timeAsync = async (runs: number, f: (i: number) => Promise<unknown>, options: TimeOptions = {}): Promise<Figure> => {
  const warmup = options.warmup ?? defaultWarmup(runs)
  const timings: Array<number> = []
  for (let i = -warmup; i < runs; i++) {
    options.before?.(i)
    const start = process.hrtime.bigint()
    await f(i)
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    if (i >= 0) timings.push(ms)
  }
  return summarize(timings)
}

/**
 * Replaces `file` the way another writer does (copy to a temp name, rename
 * over), alternating between two versions that differ in one time, so a
 * "cold" read really meets a new file with new content.
 */
export const otherWriter = (file: string, source: string, variant: string): () => void => {
  let flip = false
  return () => {
    flip = !flip
    fs.copyFileSync(flip ? variant : source, file + ".other")
    fs.renameSync(file + ".other", file)
  }
}

/**
 * Watches the event loop with a 1 ms timer until `stop`, which returns the
 * longest time (ms) the loop went without running it, less the 1 ms
 * period: the longest stall of everything else the process does (other
 * fibers, sockets, timers). The last gap, to `stop` itself, counts too.
 */
export const loopWatch = (): { readonly stop: () => number } => {
  let last = performance.now()
  let longest = 0
  const tick = () => {
    const now = performance.now()
    longest = Math.max(longest, now - last)
    last = now
  }
  const timer = setInterval(tick, 1)
  return {
    stop: () => {
      tick()
      clearInterval(timer)
      return Math.max(0, longest - 1)
    }
  }
}

/** Peak resident set size of this process so far, in bytes (maxRSS is in KiB on Linux). */
export const peakRssBytes = (): number => process.resourceUsage().maxRSS * 1024

/** Positions of the size worker's arguments, shared with `run.ts` so the two never disagree. */
export interface SizeArgs {
  readonly mode: string
  readonly jobs: number
  readonly runs: number
  readonly source: string
  readonly variant: string
}

/** Parses `<mode> <jobs> <runs> <source> <variant>` from a worker's argv. */
export const parseSizeArgs = (argv: ReadonlyArray<string>): SizeArgs => {
  const [mode, jobs, runs, source, variant] = argv
  if (mode === undefined || source === undefined || variant === undefined) {
    throw new Error("usage: <mode> <jobs> <runs> <source.json> <variant.json>")
  }
  return { mode, jobs: Number(jobs), runs: Number(runs), source, variant }
}

/** Runs `node args` to completion (30 minutes at most); its stdout, or a rejection naming the command. */
export const node = (args: ReadonlyArray<string>) =>
  new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [...args], { maxBuffer: 64 * 1024 * 1024, timeout: 30 * 60_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${args.join(" ")}: ${error.message}\n${stderr}`)) : resolve(stdout)
    )
  )

/** The last line of a worker's stdout, which is its JSON result. */
export const lastJson = (stdout: string) => JSON.parse(stdout.trim().split("\n").at(-1)!)

/** Milliseconds for a table: µs below 1 ms. */
export const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`)

/** Rows as a Markdown table, the first row its header. */
export const table = (rows: ReadonlyArray<ReadonlyArray<string>>) => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  const line = (r: ReadonlyArray<string>) => "| " + r.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |"
  // The separator row makes the output a Markdown table, so it can be pasted into BENCHMARKS.md as is.
  return [line(rows[0]!), line(widths.map((w) => "-".repeat(w))), ...rows.slice(1).map(line)].join("\n")
}
