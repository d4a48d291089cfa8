/**
 * Generates state-file text in the shape the Go tool was benchmarked with
 * (shared/bench/README.md), deterministically from a seed, and writes it in
 * the Go tool's bytes by itself, without this library's codec: the
 * benchmark's input must not depend on the encoder it measures, and
 * `test/bench-generate.test.ts` checks this writer against Go's own files.
 *
 * CLI: `node build/bench/generate.js <dir> [jobs ...] [--seed N]` writes
 * `<dir>/state-<jobs>-jobs.json` for each size (default 10, 1000, 10000).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"

/** The seed used when none is given, so every run benchmarks the same bytes. */
export const defaultSeed = 1

/**
 * mulberry32: tiny, fast and good enough to spread ids and times; the
 * benchmark needs repeatable variety, not statistical quality.
 */
const mulberry32 = (seed: number) => {
  let a = seed >>> 0
  return (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
}

/** murmur3's finalizer: a bijection on 32 bits, so distinct inputs give distinct ids. */
const fmix32 = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

const hex8 = (n: number) => n.toString(16).padStart(8, "0")
const pad = (n: number, width: number) => String(n).padStart(width, "0")

/**
 * The 8 hex digits that name job `i` (its id and its sessions' ids). A
 * bijection of `i` for a given seed, so ids never collide even at 10 000+
 * jobs, where random 32-bit ids would collide about 1% of the time.
 */
const jobHex = (i: number, seed: number): string => hex8(fmix32((i + Math.imul(seed, 0x9e3779b9)) >>> 0))

/**
 * The id of job `i` in the file `generateStateText(jobs, seed)` makes (for
 * any `jobs` > i), so a benchmark can pick jobs to change without parsing
 * the file (which would count in its peak RSS).
 */
export const jobId = (i: number, seed: number = defaultSeed): string => `job-${jobHex(i, seed)}`

// 2026-01-15T10:23:45-08:00, the Go benchmark's first time, in epoch seconds.
const BASE_SECONDS = 1_768_501_425
const OFFSET_SECONDS = -8 * 3600

/**
 * RFC 3339 with nine fraction digits and a -08:00 offset, as Go writes a
 * time read with that offset. The nanoseconds never end in 0, so every time
 * has the same length (Go drops trailing zeros) and sizes do not drift with
 * the seed.
 */
const formatTime = (seconds: number, nanos: number): string => {
  const local = new Date((seconds + OFFSET_SECONDS) * 1000)
  const ns = nanos % 10 === 0 ? nanos + 1 : nanos
  return `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1, 2)}-${pad(local.getUTCDate(), 2)}T${
    pad(local.getUTCHours(), 2)
  }:${pad(local.getUTCMinutes(), 2)}:${pad(local.getUTCSeconds(), 2)}.${pad(ns, 9)}-08:00`
}

const ZERO_TIME = "0001-01-01T00:00:00Z"

const MESSAGE = ": Refactor the state store so that concurrent updates are serialized through the lock file; " +
  "add tests covering the no-op save path, legacy prompt migration, and repo name collisions."
const COMMENTS = "Please handle the error from Save & add a test for <empty> state."
// jj change ids are 32 letters from k to z ("reverse hex").
const CHANGE_ALPHABET = "klmnopqrstuvwxyz"

/**
 * Go's encoding/json escapes these in every string; JSON.stringify does
 * not. The generated data holds no other character where the two differ
 * (\b, \f, lone surrogates, invalid UTF-8).
 */
const goEscapes = /[<>&\u2028\u2029]/g
const goEscape = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`

/**
 * Lays out a value exactly as Go's `json.MarshalIndent(v, "", "  ")` does:
 * for objects whose keys are already in the order Go would write them,
 * JSON.stringify's 2-space layout is Go's byte for byte, except for Go's
 * extra escapes.
 */
export const goLayout = (value: unknown): string => JSON.stringify(value, null, 2).replace(goEscapes, goEscape)

/**
 * Builds a map in Go's key order (bytewise). Every generated key is ASCII
 * and none is an array index (which JS objects would move to the front),
 * so code-unit order is byte order and insertion order is kept.
 */
const sortedMap = <A>(entries: Array<readonly [string, A]>): Record<string, A> => {
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  const out: Record<string, A> = {}
  for (const [k, v] of entries) out[k] = v
  return out
}

/**
 * The plain JSON value of the benchmark shape with `jobs` jobs, fields in
 * the spec page's order and map keys sorted, ready for `goLayout`.
 */
export const generateStateValue = (jobs: number, seed: number = defaultSeed): Record<string, unknown> => {
  const random = mulberry32(seed)
  const nanos = () => random() % 1_000_000_000
  const hexWords = (words: number) => Array.from({ length: words }, () => hex8(random())).join("")
  const changeId = () => Array.from({ length: 32 }, () => CHANGE_ALPHABET[random() & 15]).join("")

  const repoCount = Math.max(1, Math.floor(jobs / 10))
  const repoName = (r: number) => `home-dev-src-project-${r}`
  const repos: Array<readonly [string, unknown]> = []
  const workspaces: Array<readonly [string, unknown]> = []
  for (let r = 0; r < repoCount; r++) {
    const name = repoName(r)
    repos.push([name, { source_path: `/home/dev/src/project-${r}` }])
    const ws = `ws-${pad(r, 3)}`
    const t = BASE_SECONDS + r
    workspaces.push([`${name}/${ws}`, {
      name: ws,
      repo: name,
      path: `/home/dev/.local/share/incrementum/workspaces/${name}/${ws}`,
      purpose: `job do todo-${r}`,
      rev: "@",
      status: "acquired",
      acquired_by_pid: 10_000 + (random() % 90_000),
      created_at: formatTime(t, nanos()),
      updated_at: formatTime(t + 1, nanos()),
      acquired_at: formatTime(t + 2, nanos()),
      provisioned: true
    }])
  }

  const sessions: Array<readonly [string, unknown]> = []
  const jobEntries: Array<readonly [string, unknown]> = []
  for (let i = 0; i < jobs; i++) {
    const repo = repoName(i % repoCount)
    const id = jobHex(i, seed)
    // Each job's events one second apart from its own start, jobs 10 s apart, as in Go's files.
    const start = BASE_SECONDS + 10 * i
    const at = (step: number) => formatTime(start + step, nanos())
    const [implement, review] = [`ses_${id}0000`, `ses_${id}0001`] as const
    for (const [k, sid] of [implement, review].entries()) {
      const created = at(k)
      sessions.push([`${repo}/${sid}`, {
        id: sid,
        repo,
        status: "completed",
        created_at: created,
        started_at: created,
        updated_at: at(k + 5),
        completed_at: at(k + 6),
        exit_code: 0,
        duration_seconds: 6,
        log_path: `/home/dev/.local/share/incrementum/opencode/events/${sid}.jsonl`
      }])
    }
    const changes = [0, 1].map((c) => ({
      change_id: changeId(),
      commits: [0, 1, 2].map((k) => ({
        commit_id: hexWords(5),
        draft_message: `change ${c} commit ${k}${MESSAGE}`,
        tests_passed: k > 0,
        review: {
          outcome: k === 2 ? "ACCEPT" : "REQUEST_CHANGES",
          comments: COMMENTS,
          opencode_session_id: review,
          reviewed_at: at(c * 3 + k + 1)
        },
        opencode_session_id: implement,
        created_at: at(c * 3 + k)
      })),
      created_at: at(c * 3)
    }))
    const completed = i % 2 === 0
    const created = at(0)
    const finished = at(9)
    jobEntries.push([`job-${id}`, {
      id: `job-${id}`,
      repo,
      todo_id: `todo-${pad(i, 6)}`,
      agent: "opencode",
      implementation_model: "anthropic/claude-sonnet-4",
      code_review_model: "openai/gpt-5",
      stage: "reviewing",
      opencode_sessions: [{ purpose: "implement", id: implement }, { purpose: "review", id: review }],
      changes,
      ...(completed ? { project_review: { outcome: "ACCEPT", opencode_session_id: review, reviewed_at: finished } } : {}),
      status: completed ? "completed" : "active",
      created_at: created,
      started_at: created,
      updated_at: at(8),
      completed_at: completed ? finished : ZERO_TIME
    }])
  }
  return {
    repos: sortedMap(repos),
    workspaces: sortedMap(workspaces),
    opencode_sessions: sortedMap(sessions),
    jobs: sortedMap(jobEntries)
  }
}

/**
 * The state file text for `jobs` jobs in the Go tool's exact bytes (no
 * trailing newline). Same `jobs` and `seed`, same bytes; a different seed
 * changes ids and times but not the shape or (to within bytes) the size.
 */
export const generateStateText = (jobs: number, seed: number = defaultSeed): string =>
  goLayout(generateStateValue(jobs, seed))

/** Writes `state-<jobs>-jobs.json` into `dir` for each size; returns the paths. */
export const writeStateFiles = (dir: string, sizes: ReadonlyArray<number>, seed: number = defaultSeed): Array<string> => {
  fs.mkdirSync(dir, { recursive: true })
  return sizes.map((jobs) => {
    const file = path.join(dir, `state-${jobs}-jobs.json`)
    fs.writeFileSync(file, generateStateText(jobs, seed))
    return file
  })
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2)
  const seedAt = args.indexOf("--seed")
  const seed = seedAt >= 0 ? Number(args.splice(seedAt, 2)[1]) : defaultSeed
  const [dir, ...sizeArgs] = args
  if (dir === undefined || !Number.isInteger(seed) || sizeArgs.some((s) => !/^\d+$/.test(s))) {
    console.error("usage: node build/bench/generate.js <dir> [jobs ...] [--seed N]")
    process.exit(2)
  }
  const sizes = sizeArgs.length > 0 ? sizeArgs.map(Number) : [10, 1000, 10_000]
  for (const file of writeStateFiles(dir, sizes, seed)) console.log(`${file} ${fs.statSync(file).size} bytes`)
}
