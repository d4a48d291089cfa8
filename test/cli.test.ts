/**
 * End to end: the built `incrementum-state` binary on temp state
 * directories (`npm test` builds dist/ before vitest runs).
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Schema from "../src/Schema.js"

const root = path.join(import.meta.dirname, "..")
const bin = path.join(root, "dist", "bin.js")
const example = path.join(root, "examples", "state", "state.json")

/**
 * Runs the CLI without blocking this worker: a worker stuck in spawnSync for a minute on a
 * busy machine misses vitest's RPC deadline and fails the run ("Timeout calling onTaskUpdate").
 */
const cli = (...args: Array<string>): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })

const made: Array<string> = []
afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true })
})

const stateDir = (contents?: string | Buffer) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-cli-"))
  made.push(dir)
  if (contents !== undefined) fs.writeFileSync(path.join(dir, "state.json"), contents)
  return dir
}

const exampleDir = () => stateDir(fs.readFileSync(example))

describe("the example state", () => {
  it("is a valid state written exactly as the Go tool writes it", async () => {
    const text = fs.readFileSync(example, "utf8")
    const state = Either.getOrThrow(Schema.decodeEither(text))
    expect(Schema.encode(state)).toBe(text)
    const stages = new Set(Object.values(state.jobs).map((j) => j.stage))
    const statuses = new Set(Object.values(state.jobs).map((j) => j.status))
    const sessions = new Set(Object.values(state.opencodeSessions).map((s) => s.status))
    expect(stages).toEqual(new Set(["implementing", "testing", "reviewing", "committing"]))
    expect(statuses).toEqual(new Set(["active", "completed", "failed", "abandoned"]))
    expect(sessions).toEqual(new Set(["active", "completed", "failed", "killed"]))
    // One change went through two rejected reviews.
    const rejected = Object.values(state.jobs).flatMap((j) => j.changes ?? []).map((c) =>
      (c.commits ?? []).filter((commit) => commit.review?.outcome === "REQUEST_CHANGES").length
    )
    expect(Math.max(...rejected)).toBe(2)
  })
})

describe("incrementum-state show", () => {
  it("prints repos, workspaces, sessions and jobs as tables, newest first, with ages", async () => {
    const { code, stdout, stderr } = await cli("show", "--dir", exampleDir())
    expect(stderr).toBe("")
    expect(code).toBe(0)
    for (const heading of ["REPOS (3)", "WORKSPACES (5)", "SESSIONS (6)", "JOBS (6)"]) expect(stdout).toContain(heading)
    const jobLines = stdout.slice(stdout.indexOf("JOBS")).split("\n").slice(2).filter((line) => line !== "")
    // Newest first: the abandoned job from November 10 comes last.
    expect(jobLines.at(-1)).toMatch(/^a9q1vv\s+td-z7z7z7\s.*abandoned\s+1\s+-\s+\d+d$/)
    expect(stdout).toMatch(/k3x9qa\s+td-7f3k2m\s+users-amonks-code-incrementum\s+implementing\s+active\s+1\s+3\s+\d+[smhd]/)
  })

  it("ages come from the clock, newest first by updatedAt then createdAt, unknown times last as -", async () => {
    const nowMs = Date.now()
    const ago = (seconds: number) => new Date(nowMs - seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z")
    const zero = "0001-01-01T00:00:00Z"
    const jobRecord = (id: string, updated: string, created: string) => ({
      id,
      todo_id: `td-${id}`,
      stage: "implementing",
      status: "active",
      created_at: created,
      updated_at: updated
    })
    const dir = stateDir(JSON.stringify({
      workspaces: {
        "r/ws-1": { name: "ws-1", repo: "r", path: "/ws/1", status: "available", updated_at: ago(3.5 * 86_400) },
        "r/ws-2": { name: "ws-2", repo: "r", path: "/ws/2", status: "acquired", purpose: "job", updated_at: ago(330) }
      },
      opencode_sessions: {
        "r/s1": { id: "s1", repo: "r", status: "completed", exit_code: 0, duration_seconds: 12, updated_at: ago(9000) },
        "r/s2": { id: "s2", repo: "r", status: "active", created_at: ago(45.2) }
      },
      jobs: {
        unknown: jobRecord("unknown", zero, zero),
        days: jobRecord("days", ago(3.5 * 86_400), zero),
        hours: jobRecord("hours", zero, ago(2.5 * 3600)),
        minutes: jobRecord("minutes", ago(330), ago(99_999)),
        seconds: jobRecord("seconds", ago(45.2), zero),
        future: jobRecord("future", new Date(nowMs + 3_600_000).toISOString().replace(/\.\d+Z$/, "Z"), zero)
      }
    }))
    const { code, stdout } = await cli("show", "--dir", dir)
    expect(code).toBe(0)
    const section = (heading: string) => {
      const lines = stdout.slice(stdout.indexOf(heading)).split("\n")
      const end = lines.indexOf("")
      return lines.slice(2, end === -1 ? undefined : end).map((line) => line.split(/\s{2,}/))
    }
    const jobs = section("JOBS (6)")
    expect(jobs.map((row) => row[0])).toEqual(["future", "seconds", "minutes", "hours", "days", "unknown"])
    const ages = jobs.map((row) => row.at(-1))
    expect(ages[0]).toBe("0s")
    // Seconds tick while the binary starts, for as long as it takes on a busy machine: an age
    // may be that many seconds older than it was when the file was written (plus one, as the
    // times written drop their milliseconds).
    const slack = Math.ceil((Date.now() - nowMs) / 1000) + 1
    const agedBy = (seconds: number, unit: number, suffix: string) =>
      Array.from({ length: slack + 1 }, (_, s) => `${Math.floor((seconds + s) / unit)}${suffix}`)
    expect(agedBy(45.2, 1, "s")).toContain(ages[1])
    expect(agedBy(330, 60, "m")).toContain(ages[2])
    expect(ages.slice(3)).toEqual(["2h", "3d", "-"])
    expect(section("WORKSPACES (2)")[0]?.slice(0, 4)).toEqual(["r/ws-2", "acquired", "job", "-"])
    expect(agedBy(330, 60, "m")).toContain(section("WORKSPACES (2)")[0]?.[4])
    expect(section("WORKSPACES (2)")[1]).toEqual(["r/ws-1", "available", "-", "-", "3d"])
    const sessions = section("SESSIONS (2)")
    expect(sessions[0]![0]).toBe("r/s2")
    expect(sessions[0]!.slice(1, 4)).toEqual(["active", "-", "-"])
    expect(sessions[1]).toEqual(["r/s1", "completed", "0", "12s", "2h"])
  })

  it("never writes, not even to drop legacy prompts, and takes no lock", async () => {
    const input = fs.readFileSync(path.join(import.meta.dirname, "fixtures", "golden", "legacy_prompt.input.json"))
    const dir = stateDir(input)
    const file = path.join(dir, "state.json")
    const before = fs.statSync(file)
    for (const args of [["show"], ["show", "--json"]]) expect((await cli(...args, "--dir", dir)).code).toBe(0)
    expect(fs.readFileSync(file).equals(input)).toBe(true)
    expect(fs.statSync(file).mtimeMs).toBe(before.mtimeMs)
    expect(fs.readdirSync(dir)).toEqual(["state.json"])
  })

  it("--json prints the decoded state with RFC 3339 times", async () => {
    const { code, stdout } = await cli("show", "--json", "--dir", exampleDir())
    expect(code).toBe(0)
    const json = JSON.parse(stdout)
    expect(Object.keys(json.jobs).sort()).toEqual(["a9q1vv", "h4c8zz", "k3x9qa", "p7m2zt", "r2b7kc", "w8d4hn"])
    expect(json.jobs.k3x9qa.updatedAt).toBe("2026-11-23T21:59:40.000000001-08:00")
    expect(json.repos["users-amonks-code-website"]).toEqual({ sourcePath: "/Users/amonks/code/website" })
    // Zero times too are written as Go writes them, not dropped.
    expect(json.jobs.k3x9qa.completedAt).toBe("0001-01-01T00:00:00Z")
    expect(json.jobs.k3x9qa.changes[0].commits).toHaveLength(3)
  })

  it("shows the empty state for a directory without a state file", async () => {
    const { code, stdout } = await cli("show", "--dir", stateDir())
    expect(code).toBe(0)
    expect(stdout).toContain("JOBS (0)")
  })

  it("a corrupt file: one clear line on stderr, non-zero exit, no stack trace, file untouched", async () => {
    const bytes = `{"repos": {"r": {"source_path": 5}}}`
    const dir = stateDir(bytes)
    const { code, stdout, stderr } = await cli("show", "--dir", dir)
    expect(code).not.toBe(0)
    expect(stdout).toBe("")
    expect(stderr.trim().split("\n")).toEqual([
      `incrementum-state: corrupt ${path.join(dir, "state.json")} at repos["r"].source_path: expected a string, found the number 5`
    ])
    expect(fs.readFileSync(path.join(dir, "state.json"), "utf8")).toBe(bytes)
  })
})

describe("incrementum-state job", () => {
  it("shows a job's changes, commits, tests and reviews by unique prefix", async () => {
    const { code, stdout } = await cli("job", "k3", "--dir", exampleDir())
    expect(code).toBe(0)
    expect(stdout).toContain("job k3x9qa  todo td-7f3k2m")
    expect(stdout).toContain("change qpvuntsmwlqt  (current)  3 iterations")
    expect(stdout).toMatch(
      /#1 e3b0c44298fc1c149afbf4c8996fb92427ae41e4 {2}tests failed\n {5}state: serialize updates with flock\n {5}review: REQUEST_CHANGES {2}\d+[smhd] ago\n {7}Tests fail:/
    )
    expect(stdout).toMatch(/#2 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b {2}tests passed\n/)
    expect(stdout).toMatch(/#3 2c26b46b68ffc68ff99b453c1d30413413422d70 {2}tests - {2}<- current commit\n {5}.+\n {5}review: -\n/)
    expect(stdout).toContain("completed -")
    expect(stdout).not.toContain("- ago")
    expect(stdout.trimEnd().endsWith("project review: -")).toBe(true)
  })

  it("shows a completed job's project review", async () => {
    const { code, stdout } = await cli("job", "w8d4hn", "--dir", exampleDir())
    expect(code).toBe(0)
    expect(stdout).toContain("change vrxyqlmwtnos  (complete)  1 iteration")
    expect(stdout).not.toContain("(current)")
    expect(stdout).not.toContain("<- current commit")
    expect(stdout).toMatch(/\nproject review: ACCEPT {2}\d+d ago\n {2}Both changes are small and well tested\.\n?$/)
  })

  it("an unknown id fails with one line", async () => {
    const { code, stderr } = await cli("job", "zz", "--dir", exampleDir())
    expect(code).toBe(1)
    expect(stderr.trim()).toBe(`incrementum-state: no job matches "zz"`)
  })

  it("an ambiguous prefix fails naming the candidates", async () => {
    const dir = stateDir(`{"jobs": {"abc1": {"id": "abc1"}, "abc2": {"id": "abc2"}, "xyz": {"id": "xyz"}}}`)
    const { code, stderr } = await cli("job", "abc", "--dir", dir)
    expect(code).toBe(1)
    expect(stderr.trim()).toBe(`incrementum-state: "abc" is ambiguous: it matches abc1, abc2`)
  })

  it("an ambiguous prefix with many candidates names the first ten", async () => {
    const jobs = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`j${String(i).padStart(2, "0")}`, {}]))
    const { code, stderr } = await cli("job", "j", "--dir", stateDir(JSON.stringify({ jobs })))
    expect(code).toBe(1)
    expect(stderr.trim()).toBe(
      `incrementum-state: "j" is ambiguous: it matches j00, j01, j02, j03, j04, j05, j06, j07, j08, j09 and 2 more`
    )
  })

  it("an exact id wins over longer ids it prefixes", async () => {
    const { code, stdout } = await cli("job", "ab", "--dir", stateDir(`{"jobs": {"ab": {"id": "ab"}, "abc": {"id": "abc"}}}`))
    expect(code).toBe(0)
    expect(stdout).toContain("job ab ")
  })

  it("a corrupt file fails with the corruption, in one line", async () => {
    const dir = stateDir(`{"jobs": {"x": {"created_at": "yesterday"}}}`)
    const { code, stdout, stderr } = await cli("job", "x", "--dir", dir)
    expect([code, stdout]).toEqual([1, ""])
    expect(stderr.trim().split("\n")).toHaveLength(1)
    expect(stderr).toMatch(/^incrementum-state: corrupt .*state\.json at jobs\["x"\]\.created_at: .*yesterday/)
  })
})

describe("incrementum-state check", () => {
  it("passes a valid file with a one-line summary", async () => {
    const dir = exampleDir()
    const { code, stdout } = await cli("check", "--dir", dir)
    expect(code).toBe(0)
    expect(stdout.trim()).toBe(`ok: ${path.join(dir, "state.json")}: 3 repos, 5 workspaces, 6 sessions, 6 jobs`)
  })

  it("fails a corrupt file with the location of the problem", async () => {
    const dir = stateDir(`{\n  "repos": {\n    "r": {"source_path": "x",}\n  }\n}`)
    const { code, stderr } = await cli("check", "--dir", dir)
    expect(code).toBe(1)
    expect(stderr.trim()).toBe(`incrementum-state: corrupt ${path.join(dir, "state.json")}:3:30: expected a string key, found "}"`)
  })

  it("never writes, not even to drop legacy prompts", async () => {
    const input = fs.readFileSync(path.join(import.meta.dirname, "fixtures", "golden", "legacy_prompt.input.json"))
    const dir = stateDir(input)
    const file = path.join(dir, "state.json")
    const before = fs.statSync(file)
    const { code } = await cli("check", "--dir", dir)
    expect(code).toBe(0)
    expect(fs.readFileSync(file).equals(input)).toBe(true)
    expect(fs.statSync(file).mtimeMs).toBe(before.mtimeMs)
    expect(fs.readdirSync(dir)).toEqual(["state.json"])
  })

  it("a state.json that is not a regular file is an I/O error, in one line", async () => {
    const dir = stateDir()
    fs.mkdirSync(path.join(dir, "state.json"))
    const { code, stdout, stderr } = await cli("check", "--dir", dir)
    expect([code, stdout]).toEqual([1, ""])
    expect(stderr.trim()).toBe(`incrementum-state: read ${path.join(dir, "state.json")}: not a regular file (Directory)`)
  })

  it("an absent file is the empty state", async () => {
    const { code, stdout } = await cli("check", "--dir", stateDir())
    expect(code).toBe(0)
    expect(stdout).toContain("does not exist")
  })
})

describe("incrementum-state repo-name and repo-for", () => {
  it("repo-name records a new repo once and prints its name", async () => {
    const dir = stateDir()
    expect((await cli("repo-name", "/src/My App", "--dir", dir)).stdout.trim()).toBe("src-my-app")
    expect((await cli("repo-name", "/src/my-app", "--dir", dir)).stdout.trim()).toBe("src-my-app-2")
    expect((await cli("repo-name", "/src/My App", "--dir", dir)).stdout.trim()).toBe("src-my-app")
    const state = JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8"))
    expect(state.repos).toEqual({ "src-my-app": { source_path: "/src/My App" }, "src-my-app-2": { source_path: "/src/my-app" } })
  })

  it("repo-for prints a workspace's source repo, and fails for a path that is not a workspace", async () => {
    const dir = exampleDir()
    const ws = "/Users/amonks/.local/share/incrementum/workspaces/users-amonks-code-website/ws-001/"
    const found = await cli("repo-for", ws, "--dir", dir)
    expect([found.code, found.stdout.trim()]).toEqual([0, "/Users/amonks/code/website"])
    const missing = await cli("repo-for", "/nowhere", "--dir", dir)
    expect(missing.code).toBe(1)
    expect(missing.stderr.trim()).toBe("incrementum-state: not a workspace: /nowhere")
  })

  it("repo-for a workspace whose repo has no source path fails naming both", async () => {
    const dir = stateDir(`{"workspaces": {"gone/ws-1": {"name": "ws-1", "repo": "gone", "path": "/ws/gone/ws-1"}}}`)
    const { code, stdout, stderr } = await cli("repo-for", "/ws/gone/./ws-1/", "--dir", dir)
    expect([code, stdout]).toEqual([1, ""])
    expect(stderr.trim()).toBe(
      `incrementum-state: workspace /ws/gone/./ws-1/ belongs to repo "gone", which has no source path`
    )
  })

  it("repo-name on a corrupt file fails and leaves the file as it was", async () => {
    const bytes = `{"repos": []}`
    const dir = stateDir(bytes)
    const { code, stdout, stderr } = await cli("repo-name", "/src/x", "--dir", dir)
    expect([code, stdout]).toEqual([1, ""])
    expect(stderr).toMatch(/^incrementum-state: corrupt .*state\.json at repos: /)
    expect(stderr.trim().split("\n")).toHaveLength(1)
    expect(fs.readFileSync(path.join(dir, "state.json"), "utf8")).toBe(bytes)
  })

  it("usage errors exit non-zero", async () => {
    expect((await cli("job", "--dir", stateDir())).code).not.toBe(0)
    expect((await cli("repo-name", "/x", "--lock-timeout", "-1", "--dir", stateDir())).code).not.toBe(0)
    expect((await cli("nope")).code).not.toBe(0)
  })

  it("a lock held elsewhere times out with one line", async () => {
    const dir = stateDir()
    const flockPy = path.join(import.meta.dirname, "fixtures", "lock", "flock.py")
    const holder = spawn("python3", [flockPy, "hold", path.join(dir, "state.lock")], { stdio: ["pipe", "pipe", "inherit"] })
    await new Promise<void>((resolve) => holder.stdout!.once("data", () => resolve()))
    try {
      const { code, stderr } = await cli("repo-name", "/x", "--dir", dir, "--lock-timeout", "1")
      expect(code).toBe(1)
      expect(stderr.trim()).toBe(`incrementum-state: timed out after 1s waiting for the lock on ${path.join(dir, "state.lock")}`)
    } finally {
      holder.stdin!.end()
    }
  })
})
