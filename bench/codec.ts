/**
 * CODEC FIGURES, apart from the store: decode (in full, and with the
 * previous state: nothing changed, one job's timestamp changed, no record
 * known), a cold encode, the re-encode after a one-job change, and the
 * write check of that change, each as a ratio to `JSON.parse` /
 * `JSON.stringify` of the same text, measured in the same process and run.
 *
 *   tsc -p tsconfig.bench.json && node --expose-gc build/bench/codec.js [--sizes 10,1000,10000] [--runs N]
 *
 * Prints a Markdown table and, as the last line, one JSON object.
 */
import * as Either from "effect/Either"
import * as codec from "../src/internal/codec.js"
import type * as Schema from "../src/Schema.js"
import * as Timestamp from "../src/Timestamp.js"
import { generateStateText, jobId } from "./generate.js"
import { type Figure, timeSync } from "./measure.js"

const argv = process.argv.slice(2)
const arg = (name: string) => {
  const at = argv.indexOf(name)
  return at >= 0 ? argv[at + 1] : undefined
}
const sizes = (arg("--sizes") ?? "10,1000,10000").split(",").map(Number).filter((n) => Number.isInteger(n) && n > 0)
const runsArg = Number(arg("--runs") ?? "0")
const runsFor = (jobs: number) => (runsArg > 0 ? runsArg : jobs >= 10_000 ? 9 : jobs >= 1000 ? 41 : 401)

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`)
const ratio = (a: Figure, b: Figure) => Number((a.medianMs / b.medianMs).toPrecision(3))

const decodeOrThrow = (text: string): Schema.State => Either.getOrThrow(codec.decode(text, undefined)).state

const stamp = (i: number): Timestamp.Timestamp =>
  Timestamp.fromEpochNanos(1_800_000_000_000_000_000n + BigInt(i + 1000) * 1000n).pipe((o) => (o._tag === "Some" ? o.value : Timestamp.zero))

const withOneJobChanged = (state: Schema.State, jobs: number, i: number): Schema.State => {
  const id = jobId(((i % jobs) + jobs) % jobs)
  return { ...state, jobs: { ...state.jobs, [id]: { ...state.jobs[id]!, updatedAt: stamp(i) } } }
}

const rows: Array<Array<string>> = [["jobs", "figure", "codec", "floor", "ratio"]]
const report: Record<string, Record<string, { codec: Figure; floor: Figure; ratio: number }>> = {}
for (const jobs of sizes) {
  const text = generateStateText(jobs)
  const runs = runsFor(jobs)
  gc()
  const figures: Record<string, { codec: Figure; floor: Figure; ratio: number }> = {}
  const add = (name: string, a: Figure, b: Figure) => {
    figures[name] = { codec: a, floor: b, ratio: ratio(a, b) }
    rows.push([String(jobs), name, fmt(a.medianMs), fmt(b.medianMs), `${ratio(a, b)}x`])
  }

  const parsed = JSON.parse(text)
  add("decode / JSON.parse", timeSync(runs, () => void decodeOrThrow(text)), timeSync(runs, () => void JSON.parse(text)))

  // The reusing decode. Each input is a new buffer (as a read of the file
  // is, made before the timing), and the previous state is the last
  // decode's, as in the store. The full decode of the same bytes first.
  const inputs: Array<Buffer> = []
  const next = (t: string) => () => void inputs.push(Buffer.from(t))
  const reusing = (previous: Schema.State) => Either.getOrThrow(codec.decode(inputs.pop()!, undefined, previous)).state
  add(
    "decode of bytes / JSON.parse",
    timeSync(runs, () => void Either.getOrThrow(codec.decode(inputs.pop()!, undefined)), { before: next(text) }),
    timeSync(runs, () => void JSON.parse(text))
  )
  add(
    "decode, no record known / JSON.parse",
    timeSync(runs, () => void reusing(codec.emptyState), { before: next(text) }),
    timeSync(runs, () => void JSON.parse(text))
  )
  let previous = Either.getOrThrow(codec.decode(Buffer.from(text), undefined, codec.emptyState)).state
  add(
    "decode, nothing changed / JSON.parse",
    timeSync(runs, () => void (previous = reusing(previous)), { before: next(text) }),
    timeSync(runs, () => void JSON.parse(text))
  )
  // Two versions of the file that differ in one job's timestamp, read in turn.
  const at = text.indexOf(`\n    "${jobId(0)}": `)
  const versions = [0, 1].map((v) =>
    text.slice(0, at) + text.slice(at).replace(/"updated_at": "[^"]*"/, `"updated_at": "2031-01-01T00:00:0${v}Z"`)
  )
  add(
    "decode, one job changed / JSON.parse",
    timeSync(runs, () => void (previous = reusing(previous)), { before: (i) => next(versions[i & 1]!)() }),
    timeSync(runs, () => void JSON.parse(text))
  )

  const fresh: Array<Schema.State> = []
  add(
    "cold encode / JSON.stringify",
    timeSync(runs, () => void codec.encodeBytes(fresh.pop()!), { before: () => void fresh.push(decodeOrThrow(text)) }),
    timeSync(runs, () => void Buffer.from(JSON.stringify(parsed, null, 2)))
  )

  // The store's steady state: the last written state's records are known,
  // one job is new. Floor: one copy of the file's bytes, the least any
  // writer of the whole file pays.
  const fileBytes = Buffer.from(text)
  let state = decodeOrThrow(text)
  codec.encodeBytes(state)
  add(
    "one-job re-encode / copy of the file",
    timeSync(runs, (i) => {
      state = withOneJobChanged(state, jobs, i)
      codec.encodeBytes(state)
    }),
    timeSync(runs, () => void Buffer.concat([fileBytes]))
  )
  add(
    "one-job prepareWrite / copy of the file",
    timeSync(runs, (i) => {
      const prepared = codec.prepareWrite(withOneJobChanged(state, jobs, i))
      if (Either.isLeft(prepared)) throw prepared.left
      state = prepared.right.state
    }),
    timeSync(runs, () => void Buffer.concat([fileBytes]))
  )
  report[jobs] = figures
}

const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
const line = (r: ReadonlyArray<string>) => "| " + r.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |"
console.log([line(rows[0]!), line(widths.map((w) => "-".repeat(w))), ...rows.slice(1).map(line)].join("\n"))
console.log(JSON.stringify({ node: process.version, sizes: report }))
