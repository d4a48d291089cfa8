/** Timing helpers: median and p99 of repeated runs, in milliseconds. */

/** Summary of one operation's runs. */
export interface Figure {
  readonly medianMs: number
  readonly p99Ms: number
  readonly runs: number
}

const quantile = (sorted: ReadonlyArray<number>, q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!

/** Summarises raw timings. */
export const summarize = (timings: ReadonlyArray<number>): Figure => {
  const sorted = [...timings].sort((a, b) => a - b)
  return { medianMs: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99), runs: sorted.length }
}

/** Times `runs` calls of `f` (after `warmup` untimed ones); `before` runs untimed before each call. */
export const timeSync = (runs: number, f: (i: number) => void, options: { warmup?: number; before?: (i: number) => void } = {}): Figure => {
  const warmup = options.warmup ?? Math.min(5, runs)
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

/** `timeSync` for async operations. */
export const timeAsync = async (
  runs: number,
  f: (i: number) => Promise<unknown>,
  options: { warmup?: number; before?: (i: number) => void } = {}
): Promise<Figure> => {
  const warmup = options.warmup ?? Math.min(5, runs)
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
