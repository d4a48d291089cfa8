/**
 * A/B OF TWO CODEC BUILDS, in CPU time: decode, a cold encode, the re-encode
 * after a one-job change (`encodeBytes`) and the same change through
 * `prepareWrite` (check + encode), at each size.
 *
 *   npm run build                                # each build dir needs dist/internal/codec.js
 *   tsc -p tsconfig.bench.json
 *   node build/bench/codec-ab.js <dirA> <dirB> [--sizes 10,1000,10000] [--rounds 6] [--samples N]
 *
 * e.g. the hand-written codec against this tree:
 *
 *   git archive 2ff6553 | tar -x -C /tmp/before && ln -s "$PWD/node_modules" /tmp/before/node_modules
 *   (cd /tmp/before && npx tsc -p tsconfig.build.json)
 *   node build/bench/codec-ab.js /tmp/before .
 *
 * Each round is a fresh process that loads both builds and alternates them
 * call by call (the order rotates), on the same file's bytes (generated
 * once by `bench/generate.ts`), so that a burst of load from other
 * processes falls on both. It warms both up, then times `samples` calls of
 * each operation per build by `process.cpuUsage()` (every thread: the
 * collector's helpers too), which a busy machine moves much less than wall
 * time. A figure is the median over rounds of each process's median; the
 * range shows the rounds' spread.
 *
 * Prints a Markdown table and, as the last line, one JSON object.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { generateStateText, jobId } from "./generate.js"

const argv = process.argv.slice(2)
const arg = (name: string) => {
  const at = argv.indexOf(name)
  return at >= 0 ? argv[at + 1] : undefined
}

/** What a worker reports: per operation, the median ms of CPU of one call. */
type Medians = Record<string, number>

const operations = ["decode", "cold encode", "one-job re-encode", "one-job prepareWrite"] as const

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const cpuMs = (): number => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

// ---------------------------------------------------------------------------
// Worker: one build, one size, in a fresh process

interface CodecModule {
  readonly decode: (input: Uint8Array, path: string | undefined) => { readonly _tag: string; readonly right?: { readonly state: State } }
  readonly encodeBytes: (state: State) => Buffer
  readonly prepareWrite: (state: State) => { readonly _tag: string; readonly right?: { readonly state: State } }
}
interface State {
  readonly jobs: Readonly<Record<string, object>>
}

/** The builds' figures, in the order of `dirs`, from one process that alternates them call by call. */
const worker = async (dirs: ReadonlyArray<string>, file: string, jobs: number, samples: number): Promise<Array<Medians>> => {
  const codecs = await Promise.all(
    dirs.map(async (dir) => (await import(pathToFileURL(path.resolve(dir, "dist/internal/codec.js")).href)) as CodecModule)
  )
  const bytes = fs.readFileSync(file)
  const decode = (b: number): State => {
    const result = codecs[b]!.decode(bytes, undefined)
    if (result._tag !== "Right") throw new Error(`${dirs[b]}: decode failed`)
    return result.right!.state
  }
  // Calls per sample, so that a sample is long against the clock's resolution.
  const batch = jobs <= 10 ? 20 : 1
  /** Median CPU ms of `f` per build; each sample runs every build once, in an order that rotates. */
  const time = (f: (b: number, i: number) => void, before?: (b: number) => void): Array<number> => {
    const timings: Array<Array<number>> = dirs.map(() => [])
    for (let s = -Math.min(5, samples); s < samples; s++) {
      for (let k = 0; k < dirs.length; k++) {
        const b = (((s + k) % dirs.length) + dirs.length) % dirs.length
        let spent = 0
        for (let j = 0; j < batch; j++) {
          before?.(b)
          const start = cpuMs()
          f(b, s * batch + j)
          spent += cpuMs() - start
        }
        if (s >= 0) timings[b]!.push(spent / batch)
      }
    }
    return timings.map(median)
  }
  const withOneJobChanged = (state: State, i: number): State => {
    const id = jobId(((i % jobs) + jobs) % jobs)
    // A timestamp that differs per call: the job is a new object with new bytes.
    const updatedAt = new Date(Date.UTC(2030, 0, 1) + (i + 1000) * 1000).toISOString().replace(".000Z", "Z")
    return { ...state, jobs: { ...state.jobs, [id]: { ...state.jobs[id]!, updatedAt } } }
  }

  const out: Array<Medians> = dirs.map(() => ({}))
  const record = (op: string, figures: Array<number>) => figures.forEach((ms, b) => (out[b]![op] = ms))
  record("decode", time((b) => void decode(b)))
  const fresh: Array<State> = []
  record("cold encode", time((b) => void codecs[b]!.encodeBytes(fresh.pop()!), (b) => void fresh.push(decode(b))))
  // The steady state of a writer: every record but the changed one was
  // encoded before (the table-driven codec caches only frozen, decoded or
  // checked, records, so the change is made to the same decoded state).
  const bases = dirs.map((_, b) => decode(b))
  bases.forEach((base, b) => codecs[b]!.encodeBytes(base))
  record("one-job re-encode", time((b, i) => void codecs[b]!.encodeBytes(withOneJobChanged(bases[b]!, i))))
  const states = [...bases]
  record(
    "one-job prepareWrite",
    time((b, i) => {
      const prepared = codecs[b]!.prepareWrite(withOneJobChanged(states[b]!, i))
      if (prepared._tag !== "Right") throw new Error(`${dirs[b]}: prepareWrite failed`)
      states[b] = prepared.right!.state
    })
  )
  return out
}

// ---------------------------------------------------------------------------
// Main: alternate the builds in fresh processes

const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(1)} ms`)

const main = () => {
  const [dirA, dirB] = argv.filter((a, i) => !a.startsWith("--") && !(argv[i - 1] ?? "").startsWith("--"))
  if (dirA === undefined || dirB === undefined) {
    console.error("usage: codec-ab.js <dirA> <dirB> [--sizes 10,1000,10000] [--rounds 6] [--samples N]")
    process.exit(2)
  }
  for (const dir of [dirA, dirB]) {
    if (!fs.existsSync(path.join(dir, "dist/internal/codec.js"))) {
      console.error(`${dir}: no dist/internal/codec.js (build it first)`)
      process.exit(2)
    }
  }
  const sizes = (arg("--sizes") ?? "10,1000,10000").split(",").map(Number).filter((n) => Number.isInteger(n) && n > 0)
  const rounds = Number(arg("--rounds") ?? "6")
  const samplesFor = (jobs: number) => Number(arg("--samples") ?? (jobs >= 10_000 ? 5 : jobs >= 1000 ? 21 : 101))
  const self = fileURLToPath(import.meta.url)
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "codec-ab-"))
  const results: Record<number, Record<"A" | "B", Array<Medians>>> = {}
  try {
    for (const jobs of sizes) {
      const file = path.join(tmp, `state-${jobs}.json`)
      fs.writeFileSync(file, generateStateText(jobs))
      const runs: Record<"A" | "B", Array<Medians>> = { A: [], B: [] }
      for (let r = 0; r < rounds; r++) {
        const stdout = execFileSync(
          process.execPath,
          [self, "--worker", dirA, dirB, "--file", file, "--jobs", String(jobs), "--samples", String(samplesFor(jobs))],
          { encoding: "utf8", maxBuffer: 1 << 20 }
        )
        const [a, b] = JSON.parse(stdout.trim().split("\n").pop()!) as [Medians, Medians]
        runs.A.push(a)
        runs.B.push(b)
        process.stderr.write(`${jobs} jobs: round ${r + 1}/${rounds}\n`)
      }
      results[jobs] = runs
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }

  const rows: Array<Array<string>> = [["jobs", "ms of CPU", "A median (range)", "B median (range)", "B / A"]]
  const report: Record<string, Record<string, { A: number; B: number; ratio: number }>> = {}
  for (const jobs of sizes) {
    report[jobs] = {}
    for (const op of operations) {
      const a = results[jobs]!.A.map((m) => m[op]!)
      const b = results[jobs]!.B.map((m) => m[op]!)
      const ma = median(a)
      const mb = median(b)
      const ratio = Number((mb / ma).toPrecision(3))
      report[jobs]![op] = { A: ma, B: mb, ratio }
      const range = (xs: Array<number>) => `${fmt(Math.min(...xs))} – ${fmt(Math.max(...xs))}`
      rows.push([String(jobs), op, `${fmt(ma)} (${range(a)})`, `${fmt(mb)} (${range(b)})`, `${ratio}x`])
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  const line = (r: ReadonlyArray<string>) => "| " + r.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |"
  console.log(`A: ${path.resolve(dirA)}\nB: ${path.resolve(dirB)}\n(${rounds} fresh processes, each alternating A and B call by call)\n`)
  console.log([line(rows[0]!), line(widths.map((w) => "-".repeat(w))), ...rows.slice(1).map(line)].join("\n"))
  console.log(JSON.stringify({ node: process.version, rounds, A: path.resolve(dirA), B: path.resolve(dirB), sizes: report }))
}

if (argv[0] === "--worker") {
  const medians = await worker([argv[1]!, argv[2]!], arg("--file")!, Number(arg("--jobs")), Number(arg("--samples")))
  console.log(JSON.stringify(medians))
} else {
  main()
}
