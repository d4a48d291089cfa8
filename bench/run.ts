/**
 * `npm run bench [-- --quick]`: every figure of the store against the
 * floor measured in the same run, as tables, then one JSON line (the last
 * line printed) holding every figure and ratio.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { generateStateText } from "./generate.js"
import type { Figure } from "./measure.js"

const quick = process.argv.includes("--quick")
const here = import.meta.dirname
const sizes = quick ? [10, 1000] : [10, 1000, 10_000]
const runsFor = (jobs: number) => (jobs >= 10_000 ? (quick ? 3 : 9) : jobs >= 1000 ? (quick ? 15 : 45) : quick ? 30 : 90)

const node = (args: ReadonlyArray<string>) =>
  new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [...args], { maxBuffer: 64 * 1024 * 1024, timeout: 30 * 60_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${args.join(" ")}: ${error.message}\n${stderr}`)) : resolve(stdout)
    )
  )

const lastJson = (stdout: string) => JSON.parse(stdout.trim().split("\n").at(-1)!)

const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`)
const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100

const table = (rows: ReadonlyArray<ReadonlyArray<string>>) => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => "| " + r.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |").join("\n")
}

interface SizeResult {
  readonly figures: Record<string, Figure>
  readonly fileBytes: number
}

const report: Record<string, unknown> = { quick, node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model }
const lines: Array<string> = []
const say = (line = "") => {
  lines.push(line)
  console.log(line)
}

say(`# incrementum-state benchmarks${quick ? " (--quick)" : ""}`)
say(`node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`)

const pairs: ReadonlyArray<readonly [string, string, string]> = [
  ["cold load (file changed by another writer)", "coldLoad", "floorColdLoad"],
  ["warm load (file unchanged)", "warmLoad", "floorColdLoad"],
  ["no-op update", "noopUpdate", "floorNoopUpdate"],
  ["one-field update", "oneFieldUpdate", "floorUpdate"],
  ["save of an unchanged state", "saveUnchanged", "floorUpdate"]
]

const sizesReport: Record<string, unknown> = {}
for (const jobs of sizes) {
  const runs = runsFor(jobs)
  const sources = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-bench-source-"))
  const source = path.join(sources, "state.json")
  const variant = path.join(sources, "variant.json")
  const text = generateStateText(jobs)
  fs.writeFileSync(source, text)
  fs.writeFileSync(variant, text.replace(/"updated_at": "2026-01-15T10:23:53/, "\"updated_at\": \"2026-01-15T11:23:53"))
  const worker = path.join(here, "size-worker.js")
  const result: SizeResult = lastJson(await node([worker, "figures", String(jobs), String(runs), source, variant]))
  const rss = lastJson(await node([worker, "rss", String(jobs), String(Math.min(runs, 20)), source, variant]))
  fs.rmSync(sources, { recursive: true, force: true })
  const f = result.figures
  const mb = result.fileBytes / 1e6
  say()
  say(`## ${jobs} jobs (${mb.toFixed(2)} MB)`)
  say()
  const rows = [["operation", "store median", "store p99", "floor median", "floor p99", "store / floor"]]
  const entry: Record<string, unknown> = { fileBytes: result.fileBytes, figures: f }
  for (const [label, ours, floor] of pairs) {
    const a = f[ours]!
    const b = f[floor]!
    entry[`${ours}Ratio`] = ratio(a.medianMs, b.medianMs)
    rows.push([label, fmt(a.medianMs), fmt(a.p99Ms), fmt(b.medianMs), fmt(b.p99Ms), `${ratio(a.medianMs, b.medianMs)}x`])
  }
  say(table(rows))
  say()
  const decodeMBs = mb / (f["decode"]!.medianMs / 1000)
  const encodeMBs = mb / (f["encode"]!.medianMs / 1000)
  const parseMBs = mb / (f["jsonParse"]!.medianMs / 1000)
  const stringifyMBs = mb / (f["jsonStringify"]!.medianMs / 1000)
  say(table([
    ["codec alone", "MB/s", "JSON floor MB/s", "codec / floor time"],
    ["decode (text → State)", decodeMBs.toFixed(0), `${parseMBs.toFixed(0)} (JSON.parse)`, `${ratio(f["decode"]!.medianMs, f["jsonParse"]!.medianMs)}x`],
    ["encode, cold (State → text)", encodeMBs.toFixed(0), `${stringifyMBs.toFixed(0)} (JSON.stringify)`, `${ratio(f["encode"]!.medianMs, f["jsonStringify"]!.medianMs)}x`]
  ]))
  say()
  const rssRatio = ratio(rss.maxRssBytes, result.fileBytes)
  say(`peak RSS of a store-only process (load, ${Math.min(runs, 20)} updates, ${Math.min(runs, 20)} cold loads): ${(rss.maxRssBytes / 2 ** 20).toFixed(0)} MiB = ${rssRatio}x the file`)
  Object.assign(entry, { decodeMBs, encodeMBs, parseMBs, stringifyMBs, peakRssBytes: rss.maxRssBytes, peakRssRatio: rssRatio })
  sizesReport[String(jobs)] = entry
}
report["sizes"] = sizesReport

// Contention: P processes, each doing N updates of one counter in a small state.
const perWorker = quick ? 100 : 400
const warmup = 30
say()
say(`## contention: P processes × ${perWorker} updates (after ${warmup} untimed) on a 10-job state`)
say()
const contention: Record<string, unknown> = {}
const rows = [["P", "store updates/s", "floor updates/s", "store / floor"]]
for (const p of [1, 2, 4, 8]) {
  const rates: Record<string, number> = {}
  for (const mode of ["floor", "store"]) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-contention-"))
    fs.writeFileSync(path.join(dir, "state.json"), generateStateText(10))
    const startAt = Date.now() + 1000 + 300 * p
    const outs = await Promise.all(
      Array.from(
        { length: p },
        () => node([path.join(here, "contention-worker.js"), mode, dir, String(perWorker), String(warmup), String(startAt)])
      )
    )
    const spans = outs.map(lastJson) as Array<{ started: number; finished: number }>
    const seconds = (Math.max(...spans.map((s) => s.finished)) - Math.min(...spans.map((s) => s.started))) / 1000
    const counter = JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8")).counter
    const expected = p * (perWorker + warmup)
    if (counter !== expected) throw new Error(`${mode} P=${p}: counter ${counter}, expected ${expected}: an update was lost`)
    rates[mode] = (p * perWorker) / seconds
    fs.rmSync(dir, { recursive: true, force: true })
  }
  contention[String(p)] = { store: rates["store"], floor: rates["floor"], ratio: ratio(rates["store"]!, rates["floor"]!) }
  rows.push([String(p), rates["store"]!.toFixed(0), rates["floor"]!.toFixed(0), `${ratio(rates["store"]!, rates["floor"]!)}x`])
}
say(table(rows))
say("(final counts were exact in every run)")
report["contention"] = contention

console.log(JSON.stringify(report))
