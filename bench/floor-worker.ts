/**
 * Measures the floor's figures for one state size in a fresh process and
 * prints them as one JSON line:
 *
 *   node build/bench/floor-worker.js <figures|rss> <jobs> <runs> <source.json> <variant.json>
 *
 * A process of its own per size (and per mode) so that heaps left by one
 * size or one mode do not slow or inflate the next; mode "rss" runs only
 * the workload whose peak RSS is reported, and imports nothing of Effect,
 * so the figure is the floor's alone.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { floorNoopUpdate, floorRead, floorUpdate } from "./floor.js"
import { jobId } from "./generate.js"
import { type Figure, otherWriter, parseSizeArgs, peakRssBytes, setWarmup, timeSync } from "./measure.js"

const { jobs, mode, runs, source, variant } = parseSizeArgs(process.argv.slice(2))
// A small state's runs are short: warm the JIT as a long-running service would be (see `setWarmup`).
if (jobs <= 100) setWarmup(500)

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-bench-floor-"))
const file = path.join(dir, "state.json")
const fileBytes = fs.statSync(source).size
fs.copyFileSync(source, file)
const replace = otherWriter(file, source, variant)

/** A different job per run (warm-up runs, with negative i, included), as the store's figures use. */
const idAt = (i: number) => jobId(((i % jobs) + jobs) % jobs)
/** A new time per run, so every update really changes the file. */
const stamp = (i: number) => `2027-01-01T00:00:00.${String(i + 1_000_000).padStart(9, "0")}Z`
const setUpdatedAt = (i: number) => (state: any) => void (state.jobs[idAt(i)].updated_at = stamp(i))

let result: unknown
if (mode === "rss") {
  // The same workload as the store's rss mode: one load, `runs` updates, `runs` cold loads.
  floorRead(dir)
  for (let i = 0; i < runs; i++) floorUpdate(dir, setUpdatedAt(i))
  for (let i = 0; i < runs; i++) {
    replace()
    floorRead(dir)
  }
  result = { maxRssBytes: peakRssBytes(), fileBytes }
} else {
  const few = Math.max(3, Math.floor(runs / 3))
  const many = runs * 10
  const text = fs.readFileSync(source, "utf8")
  const parsed = JSON.parse(text)
  const figures: Record<string, Figure> = {
    jsonParse: timeSync(runs, () => void JSON.parse(text)),
    jsonStringify: timeSync(runs, () => void JSON.stringify(parsed, null, 2)),
    floorColdLoad: timeSync(runs, () => void floorRead(dir), { before: replace }),
    floorNoopUpdate: timeSync(many, () => floorNoopUpdate(dir)),
    floorUpdate: timeSync(few, (i) => floorUpdate(dir, setUpdatedAt(i)))
  }
  result = { figures, fileBytes }
}
fs.rmSync(dir, { recursive: true, force: true })
process.stdout.write(JSON.stringify(result) + "\n")
