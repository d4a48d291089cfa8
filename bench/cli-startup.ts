/**
 * Start-up of the `incrementum-state` binary (the bundle `npm run build`
 * writes, package.json's `bin`), as ratios to what it cannot beat:
 *
 * - `--version` and `show` on examples/state against a bare `node -e 0`
 *   (targets: 3x and 4x);
 * - `check` and `show` on a generated 1 000-job file against the library's
 *   own cold load of that file in a fresh process, bundled the same way
 *   (bench/cli-reference.ts; target: 1.5x).
 *
 * Every command is run in turn, round after round, so that a busy moment
 * of the machine falls on all of them alike; figures are medians of wall
 * time. Prints a Markdown table, then one JSON line.
 *
 *   npm run bench:cli [-- --rounds N]
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import * as esbuild from "esbuild"
import { generateStateText } from "./generate.js"

const here = import.meta.dirname
const root = path.resolve(here, "..", "..")
const argv = process.argv.slice(2)
const roundsAt = argv.indexOf("--rounds")
const rounds = roundsAt >= 0 ? Number(argv[roundsAt + 1]) : 21

const packageJson = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
  bin: Record<string, string>
}
const bin = path.join(root, packageJson.bin["incrementum-state"]!)
if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: run npm run build first`)

const work = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-cli-bench-"))
const reference = path.join(root, "build", "bench", "cli-reference.bundle.js")
esbuild.buildSync({
  entryPoints: [path.join(root, "bench", "cli-reference.ts")],
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20.19",
  minify: true,
  external: ["koffi"],
  outfile: reference,
  logLevel: "warning"
})
const large = path.join(work, "large")
fs.mkdirSync(large)
fs.writeFileSync(path.join(large, "state.json"), generateStateText(1000))
const example = path.join(root, "examples", "state")

const cases: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["node -e 0", ["-e", "0"]],
  ["--version", [bin, "--version"]],
  ["show (example)", [bin, "show", "--dir", example]],
  ["library cold load (1 000 jobs)", [reference, large]],
  ["check (1 000 jobs)", [bin, "check", "--dir", large]],
  ["show (1 000 jobs)", [bin, "show", "--dir", large]]
]

const timings = new Map<string, Array<number>>(cases.map(([name]) => [name, []]))
try {
  for (let round = -2; round < rounds; round++) {
    for (const [name, args] of cases) {
      const start = performance.now()
      const result = spawnSync(process.execPath, args, { encoding: "utf8" })
      const elapsed = performance.now() - start
      if (result.status !== 0) throw new Error(`${name} failed (${result.status}): ${result.stderr}`)
      // The first two rounds warm the file cache and are not counted.
      if (round >= 0) timings.get(name)!.push(elapsed)
    }
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true })
}

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const m = (name: string) => median(timings.get(name)!)
const rows: ReadonlyArray<readonly [string, string, number]> = [
  ["--version", "node -e 0", 3],
  ["show (example)", "node -e 0", 4],
  ["check (1 000 jobs)", "library cold load (1 000 jobs)", 1.5],
  ["show (1 000 jobs)", "library cold load (1 000 jobs)", 1.5]
]
const results = rows.map(([name, base, target]) => ({
  name,
  base,
  ms: Number(m(name).toFixed(1)),
  baseMs: Number(m(base).toFixed(1)),
  ratio: Number((m(name) / m(base)).toFixed(2)),
  target
}))
const table = [
  ["command", "median", "against", "its median", "ratio", "target"],
  ...results.map((r) => [r.name, `${r.ms} ms`, r.base, `${r.baseMs} ms`, `${r.ratio}x`, `${r.target}x`])
]
const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)))
const line = (row: ReadonlyArray<string>) => "| " + row.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |"
console.log(`CLI start-up, ${rounds} interleaved rounds, medians of wall time\n`)
console.log([line(table[0]!), line(widths.map((w) => "-".repeat(w))), ...table.slice(1).map(line)].join("\n"))
console.log(JSON.stringify({ rounds, results }))
