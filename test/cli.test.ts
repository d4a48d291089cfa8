/**
 * End to end: the built `incrementum-state` binary, the bundle package.json's
 * `bin` names, on temp state directories (`npm test` builds it before vitest
 * runs).
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Schema from "../src/Schema.js"

const root = path.join(import.meta.dirname, "..")
const packageJson = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"))
const bin = path.join(root, packageJson.bin["incrementum-state"])
const example = path.join(root, "examples", "state", "state.json")

/**
 * Runs the CLI without blocking this worker: a worker stuck in spawnSync for a minute on a
 * busy machine misses vitest's RPC deadline and fails the run ("Timeout calling onTaskUpdate").
 */
const run = (
  args: ReadonlyArray<string>,
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}
): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"], timeout: 60_000, ...options })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })
const cli = (...args: Array<string>) => run(args)

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
  it("prints repos, workspaces, sessions and the active jobs as tables, newest first, with ages", async () => {
    const { code, stdout, stderr } = await cli("show", "--dir", exampleDir())
    expect(stderr).toBe("")
    expect(code).toBe(0)
    for (const heading of ["REPOS (3)", "WORKSPACES (5)", "SESSIONS (6)", "JOBS (3 of 6)"]) expect(stdout).toContain(heading)
    const jobLines = stdout.slice(stdout.indexOf("JOBS")).trimEnd().split("\n").slice(2)
    expect(jobLines.map((line) => line.split(/\s+/)[0])).toEqual([
      "p7m2zt",
      "k3x9qa",
      "h4c8zz",
      "(not"
    ])
    expect(jobLines.at(-1)).toBe("(not listed: 1 completed, 1 failed, 1 abandoned; --status all lists every status)")
    expect(stdout).toMatch(/k3x9qa\s+td-7f3k2m\s+users-amonks-code-incrementum\s+implementing\s+active\s+1\s+3\s+\d+[smhd]/)
  })

  it("--all lists every job, newest first", async () => {
    const { code, stdout } = await cli("show", "--all", "--dir", exampleDir())
    expect(code).toBe(0)
    const jobLines = stdout.slice(stdout.indexOf("JOBS (6 of 6)")).trimEnd().split("\n").slice(2)
    // Newest first: the abandoned job from November 10 comes last, and nothing is left out.
    expect(jobLines).toHaveLength(6)
    expect(jobLines.at(-1)).toMatch(/^a9q1vv\s+td-z7z7z7\s.*abandoned\s+1\s+-\s+\d+d$/)
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
    const jobs = section("JOBS (6 of 6)")
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
    expect(section("WORKSPACES (2)")).toEqual([["r/ws-2", "acquired", "job", "-", "5m"], ["r/ws-1", "available", "-", "-", "3d"]])
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
    expect(stdout).toContain("JOBS (0 of 0)\nno jobs match")
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

  it("repo-for a workspace whose repo has no source path fails naming both (the path cleaned)", async () => {
    const dir = stateDir(`{"workspaces": {"gone/ws-1": {"name": "ws-1", "repo": "gone", "path": "/ws/gone/ws-1"}}}`)
    const { code, stdout, stderr } = await cli("repo-for", "/ws/gone/./ws-1/", "--dir", dir)
    expect([code, stdout]).toEqual([1, ""])
    expect(stderr.trim()).toBe(
      `incrementum-state: workspace /ws/gone/ws-1 belongs to repo "gone", which has no source path`
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

// ---------------------------------------------------------------------------
// Help, usage errors and colour

const commandNames = ["show", "jobs", "job", "check", "repo-name", "repo-for"]
// @effect/cli's boilerplate and built-ins, which the binary's help must not show.
const clutter = ["A user-defined piece of text", "A true or false value", "This setting is optional", "--wizard", "--log-level", "--completions"]

describe("incrementum-state help", () => {
  it("--help lists every command with a summary, on stdout, exit 0", async () => {
    const { code, stdout, stderr } = await cli("--help")
    expect([code, stderr]).toEqual([0, ""])
    expect(stdout).toMatch(/^incrementum-state \d+\.\d+\.\d+: /)
    for (const name of commandNames) expect(stdout).toMatch(new RegExp(`\\n  ${name} +\\S.*`))
    for (const text of clutter) expect(stdout).not.toContain(text)
  })

  it.each(commandNames)("%s --help: usage with the program's name, every option described, and examples", async (name) => {
    const { code, stdout, stderr } = await cli(name, "--help")
    expect([code, stderr]).toEqual([0, ""])
    expect(stdout).toContain(`\nUsage:\n  incrementum-state ${name} `)
    for (const text of clutter) expect(stdout).not.toContain(text)
    const block = (heading: string) => {
      const start = stdout.indexOf(`\n${heading}:\n`)
      if (start === -1) return []
      const lines = stdout.slice(start + heading.length + 3).split("\n")
      const end = lines.indexOf("")
      return lines.slice(0, end === -1 ? undefined : end)
    }
    const options = block("Options")
    expect(options.length).toBeGreaterThan(1)
    // Every option has a name and a description, two spaces or more apart.
    for (const line of options) expect(line).toMatch(/^ {2}-\S.*\S {2,}\S/)
    expect(options.some((line) => line.startsWith("  --dir DIR "))).toBe(true)
    const examples = block("Examples")
    expect(examples.length).toBeGreaterThan(0)
    for (const line of examples) expect(line).toMatch(new RegExp(`^  incrementum-state ${name}( \\S+)*  +\\S`))
  })

  it("help <command> is <command> --help", async () => {
    expect((await cli("help", "jobs")).stdout).toBe((await cli("jobs", "--help")).stdout)
  })

  it("no arguments prints the help on stderr and exits 2", async () => {
    const { code, stdout, stderr } = await cli()
    expect([code, stdout]).toEqual([2, ""])
    expect(stderr).toBe((await cli("--help")).stdout)
  })

  it("--version prints package.json's version", async () => {
    expect(await cli("--version")).toEqual({ code: 0, stdout: `${packageJson.version}\n`, stderr: "" })
  })
})

describe("incrementum-state usage errors: exit 2, the problem, the usage line, where the help is", () => {
  const usage = async (args: ReadonlyArray<string>, message: string, command?: string) => {
    const { code, stdout, stderr } = await run(args)
    expect([code, stdout]).toEqual([2, ""])
    const lines = stderr.trimEnd().split("\n")
    expect(lines[0]).toBe(`incrementum-state: ${message}`)
    expect(lines[1]).toMatch(new RegExp(`^usage: incrementum-state ${command ?? "<command>"} \\[`))
    expect(lines[2]).toBe(`Run 'incrementum-state${command === undefined ? "" : ` ${command}`} --help' for more.`)
    expect(lines).toHaveLength(3)
  }

  it("bad values name the option and what it wants", async () => {
    await usage(["repo-name", "/x", "--lock-timeout", "abc"], `--lock-timeout wants a number of seconds, 0 or more, got "abc"`, "repo-name")
    await usage(["repo-name", "/x", "--lock-timeout", "-1"], `--lock-timeout wants a number of seconds, 0 or more, got "-1"`, "repo-name")
    await usage(["show", "--status", "paused"], `--status wants active, completed, failed, abandoned or all, or several joined by commas, got "paused"`, "show")
    await usage(["jobs", "--stage", "done"], `--stage wants one of implementing, testing, reviewing, committing, got "done"`, "jobs")
    await usage(["jobs", "--since", "yesterday"], `--since wants a duration such as 30m, 12h, 7d or 1h30m, got "yesterday"`, "jobs")
    await usage(["jobs", "--limit", "ten"], `--limit wants a whole number, 0 or more, got "ten"`, "jobs")
    await usage(["show", "--dir", ""], `--dir wants a directory, got ""`, "show")
  })

  it("an option without its value, an unknown option or command, an extra argument, a missing one", async () => {
    await usage(["show", "--dir"], "--dir needs a value", "show")
    await usage(["show", "--verbose"], "show has no option --verbose", "show")
    await usage(["show", "--wizard"], "show has no option --wizard", "show")
    await usage(["check", "--log-level", "debug"], "check has no option --log-level", "check")
    await usage(["check", "extra"], `unexpected argument "extra"`, "check")
    await usage(["job", "--dir", stateDir()], "Missing argument <id>", "job")
    await usage(["nope"], `unknown command "nope"`)
    await usage(["show", "--stauts", "failed"], "show has no option --stauts (did you mean --status?)", "show")
    await usage(["shwo"], `unknown command "shwo" (did you mean show?)`)
    await usage(["--nope"], "unknown option --nope")
    await usage(["show", "--json", "--status", "all"], "show --json prints the whole state and takes no filters; for a filtered list use jobs --json", "show")
  })

  it("repo-name and repo-for refuse an empty path, and write nothing", async () => {
    const dir = stateDir()
    await usage(["repo-name", "", "--dir", dir], "<source path> wants a path, got an empty one", "repo-name")
    await usage(["repo-for", "", "--dir", dir], "<workspace path> wants a path, got an empty one", "repo-for")
    expect(fs.readdirSync(dir)).toEqual([])
  })
})

describe("incrementum-state --dir", () => {
  it("a --dir that does not exist fails every command, saying so, and is not created", async () => {
    const missing = path.join(stateDir(), "typo")
    for (const args of [["check"], ["show"], ["jobs"], ["job", "k3"], ["repo-name", "/src/x"], ["repo-for", "/ws"]]) {
      const { code, stdout, stderr } = await cli(...args, "--dir", missing)
      expect([args, code, stdout]).toEqual([args, 1, ""])
      expect(stderr).toBe(`incrementum-state: --dir ${missing}: no such directory\n`)
    }
    expect(fs.existsSync(missing)).toBe(false)
  })

  it("a --dir that is a file is not a directory", async () => {
    const file = path.join(stateDir(), "file")
    fs.writeFileSync(file, "")
    expect(await cli("check", "--dir", file)).toEqual({ code: 1, stdout: "", stderr: `incrementum-state: --dir ${file}: not a directory\n` })
  })

  it("the default directory may be missing: the viewers show the empty state and leave it missing, repo-name creates it", async () => {
    const home = stateDir()
    const env = { ...process.env, HOME: home }
    const defaultDir = path.join(home, ".local", "state", "incrementum")
    for (const args of [["check"], ["show"], ["jobs"]]) expect((await run(args, { env })).code).toBe(0)
    expect((await run(["check"], { env })).stdout).toBe(`ok: ${path.join(defaultDir, "state.json")} does not exist (the empty state)\n`)
    expect(fs.readdirSync(home)).toEqual([])
    expect(await run(["repo-name", "/src/app"], { env })).toEqual({ code: 0, stdout: "src-app\n", stderr: "" })
    expect(fs.readdirSync(defaultDir).sort()).toEqual(["state.json", "state.lock"])
  })

  it("the default directory is the store's", async () => {
    const Read = await import("../src/cli/read.js")
    const Store = await import("../src/Store.js")
    expect(Read.defaultDir()).toBe(Store.defaultDir())
  })
})

describe("incrementum-state repo-name and repo-for paths", () => {
  it("resolve a relative path against the working directory, as ii records absolute repo roots", async () => {
    const dir = stateDir()
    const cwd = stateDir()
    fs.mkdirSync(path.join(cwd, "My App"))
    const first = await run(["repo-name", "My App", "--dir", dir], { cwd: path.join(cwd) })
    expect(first.code).toBe(0)
    const state = JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8"))
    expect(Object.values(state.repos)).toEqual([{ source_path: path.join(cwd, "My App") }])
    // The same repo however it is spelled: relative, absolute, with a trailing slash or a dot segment.
    expect((await run(["repo-name", "./My App/", "--dir", dir], { cwd })).stdout).toBe(first.stdout)
    expect((await cli("repo-name", `${cwd}/x/../My App`, "--dir", dir)).stdout).toBe(first.stdout)
    expect(Object.keys(JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8")).repos)).toHaveLength(1)

    fs.writeFileSync(
      path.join(dir, "state.json"),
      JSON.stringify({ ...state, workspaces: { "r/ws-1": { name: "ws-1", repo: Object.keys(state.repos)[0], path: path.join(cwd, "ws-1") } } })
    )
    expect(await run(["repo-for", "ws-1", "--dir", dir], { cwd })).toEqual({ code: 0, stdout: `${path.join(cwd, "My App")}\n`, stderr: "" })
  })
})

// ---------------------------------------------------------------------------
// Filters and the jobs listing

/** Jobs at known ages, with a mix of statuses, stages and repos. */
const filterState = (apiSource = "/src/api") => {
  const nowMs = Date.now()
  const ago = (seconds: number) => new Date(nowMs - seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z")
  const job = (id: string, status: string, stage: string, repo: string, seconds: number) => ({
    id,
    repo,
    todo_id: `td-${id}`,
    stage,
    status,
    created_at: ago(seconds + 60),
    updated_at: ago(seconds)
  })
  const jobs = [
    job("aaa111", "active", "implementing", "web", 30),
    job("aab222", "active", "testing", "api", 2 * 3600),
    job("abc333", "failed", "reviewing", "web", 3 * 86_400),
    job("bcd444", "completed", "committing", "api", 2 * 86_400),
    job("bce555", "active", "reviewing", "web", 10 * 86_400),
    job("cde666", "abandoned", "testing", "api", 20 * 86_400)
  ]
  return stateDir(JSON.stringify({
    repos: { api: { source_path: apiSource }, web: { source_path: "/src/web" } },
    jobs: Object.fromEntries(jobs.map((j) => [j.id, j]))
  }))
}

const listed = (stdout: string) =>
  stdout.trimEnd().split("\n").filter((line) => !line.startsWith("(")).slice(1).map((line) => line.split(/\s{2,}/))

describe("incrementum-state jobs", () => {
  it("one line per active job, newest first: age, id, stage, status, repo, todo; then what it left out", async () => {
    const { code, stdout, stderr } = await cli("jobs", "--dir", filterState())
    expect([code, stderr]).toEqual([0, ""])
    expect(stdout.split("\n")[0]!.split(/\s{2,}/)).toEqual(["AGE", "JOB", "STAGE", "STATUS", "REPO", "TODO"])
    expect(listed(stdout)).toEqual([
      // Seconds tick while the binary starts.
      [expect.stringMatching(/^3\ds$/), "aaa111", "implementing", "active", "web", "td-aaa111"],
      ["2h", "aab222", "testing", "active", "api", "td-aab222"],
      ["10d", "bce555", "reviewing", "active", "web", "td-bce555"]
    ])
    expect(stdout.trimEnd().split("\n").at(-1)).toBe(
      "(not listed: 1 completed, 1 failed, 1 abandoned; --status all lists every status)"
    )
  })

  it("--status, --all, --repo, --stage, --since and --limit narrow the listing and combine", async () => {
    const dir = filterState()
    const ids = async (...args: Array<string>) => {
      const result = await cli("jobs", "--dir", dir, ...args)
      expect(result.code).toBe(0)
      return listed(result.stdout).map((row) => row[1])
    }
    expect(await ids("--status", "failed")).toEqual(["abc333"])
    expect(await ids("--status", "failed,completed")).toEqual(["bcd444", "abc333"])
    expect(await ids("--status", "all")).toEqual(["aaa111", "aab222", "bcd444", "abc333", "bce555", "cde666"])
    expect(await ids("--all")).toEqual(await ids("--status", "all"))
    expect(await ids("--repo", "api")).toEqual(["aab222"])
    expect(await ids("--repo", "api", "--all")).toEqual(["aab222", "bcd444", "cde666"])
    expect(await ids("--stage", "reviewing", "--all")).toEqual(["abc333", "bce555"])
    expect(await ids("--since", "1d")).toEqual(["aaa111", "aab222"])
    expect(await ids("--since", "1h")).toEqual(["aaa111"])
    expect(await ids("--since", "2d12h", "--all")).toEqual(["aaa111", "aab222", "bcd444"])
    expect(await ids("--limit", "2")).toEqual(["aaa111", "aab222"])
    // A repo by its source path, absolute or relative to the working directory.
    expect(await ids("--repo", "/src/api/", "--all")).toEqual(await ids("--repo", "api", "--all"))
    const apiSource = stateDir()
    const here = await run(["jobs", "--dir", filterState(apiSource), "--repo", ".", "--all"], { cwd: apiSource })
    expect(listed(here.stdout).map((row) => row[1])).toEqual(await ids("--repo", "api", "--all"))
  })

  it("counts what --limit left out, and says so when nothing matches", async () => {
    const dir = filterState()
    const limited = await cli("jobs", "--dir", dir, "--all", "--limit", "4")
    expect(limited.stdout.trimEnd().split("\n").slice(-1)).toEqual(["(2 more jobs match; --limit 0 lists them all)"])
    const none = await cli("jobs", "--dir", dir, "--since", "10s")
    expect(none.stdout).toBe("no jobs match\n")
  })

  it("a --repo that is neither a repo's name nor its source path fails, saying so", async () => {
    const dir = filterState()
    for (const command of ["jobs", "show"]) {
      expect(await cli(command, "--dir", dir, "--repo", "wbe")).toEqual({
        code: 1,
        stdout: "",
        stderr: "incrementum-state: --repo wbe: no repo has that name or source path (did you mean web?)\n"
      })
    }
  })

  it("--json prints the listed jobs, in the file's field order", async () => {
    const { code, stdout } = await cli("jobs", "--json", "--status", "failed,completed", "--dir", filterState())
    expect(code).toBe(0)
    const jobs = JSON.parse(stdout)
    expect(jobs.map((j: { id: string }) => j.id)).toEqual(["bcd444", "abc333"])
    expect(Object.keys(jobs[0])).toEqual(["id", "repo", "todoId", "agent", "stage", "status", "createdAt", "startedAt", "updatedAt", "completedAt"])
  })
})

describe("incrementum-state show filters", () => {
  it("--repo, --since and --limit narrow every section; --status and --stage the jobs", async () => {
    const nowMs = Date.now()
    const ago = (seconds: number) => new Date(nowMs - seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z")
    const session = (id: string, repo: string, seconds: number) => ({ id, repo, status: "completed", updated_at: ago(seconds) })
    const dir = stateDir(JSON.stringify({
      repos: { api: { source_path: "/src/api" }, web: { source_path: "/src/web" } },
      workspaces: {
        "api/ws-1": { name: "ws-1", repo: "api", path: "/ws/api/1", status: "available", updated_at: ago(60) },
        "web/ws-1": { name: "ws-1", repo: "web", path: "/ws/web/1", status: "available", updated_at: ago(60) }
      },
      opencode_sessions: Object.fromEntries([
        session("s1", "api", 10),
        session("s2", "api", 20),
        session("s3", "api", 5 * 86_400),
        session("s4", "web", 30)
      ].map((s) => [`${s.repo}/${s.id}`, s])),
      jobs: { j1: { id: "j1", repo: "api", status: "failed", stage: "testing", updated_at: ago(40) } }
    }))
    const { code, stdout } = await cli("show", "--dir", dir, "--repo", "api", "--since", "1d", "--limit", "1", "--status", "failed")
    expect(code).toBe(0)
    expect(stdout.trimEnd().split("\n")).toEqual([
      "REPOS (1)",
      "NAME  SOURCE PATH",
      "api   /src/api",
      "",
      "WORKSPACES (1)",
      expect.stringMatching(/^WORKSPACE/),
      expect.stringMatching(/^api\/ws-1 /),
      "",
      "SESSIONS (1 of 2)",
      expect.stringMatching(/^SESSION/),
      expect.stringMatching(/^api\/s1 /),
      "(1 more; --limit 0 lists them all)",
      "",
      "JOBS (1 of 1)",
      expect.stringMatching(/^JOB/),
      expect.stringMatching(/^j1 .* failed /)
    ])
  })
})

describe("incrementum-state colour", () => {
  const ansi = /\x1b\[/

  it("piped output has no escape codes, the listings and the help alike", async () => {
    const dir = exampleDir()
    for (const args of [["show", "--all"], ["jobs", "--all"], ["job", "k3"], ["show", "--help"], ["--help"], ["show", "--status", "x"]]) {
      const { stdout, stderr } = await cli(...args, "--dir", dir)
      expect(stdout + stderr).not.toMatch(ansi)
    }
  })

  // `script` runs the binary on a pseudo-terminal, as a person would.
  const onTerminal = (args: string, env: NodeJS.ProcessEnv = {}) =>
    spawnSync("script", ["-qec", `"${process.execPath}" "${bin}" ${args}`, "/dev/null"], {
      encoding: "utf8",
      timeout: 60_000,
      env: { ...process.env, NO_COLOR: "", TERM: "xterm", ...env }
    }).stdout.replaceAll("\r", "")
  const hasScript = spawnSync("script", ["-qec", "true", "/dev/null"]).status === 0

  it.runIf(hasScript)("on a terminal the unique prefix of each id is highlighted; NO_COLOR and TERM=dumb turn it off", () => {
    const dir = stateDir(JSON.stringify({ jobs: { abc1: { id: "abc1", status: "active" }, abd2: { id: "abd2", status: "active" }, x9: { id: "x9", status: "active" } } }))
    const out = onTerminal(`jobs --dir "${dir}"`)
    const bold = (prefix: string, rest: string) => `\x1b[1m\x1b[36m${prefix}\x1b[0m${rest}`
    for (const id of [bold("abc", "1"), bold("abd", "2"), bold("x", "9")]) expect(out).toContain(id)
    // Columns still line up: the escapes take no width.
    const columns = out.split("\n").filter((line) => line.includes("active"))
      .map((line) => line.replace(/\x1b\[[0-9;]*m/g, "").indexOf("active"))
    expect(columns).toHaveLength(3)
    expect(new Set(columns).size).toBe(1)
    expect(onTerminal(`jobs --dir "${dir}"`, { NO_COLOR: "1" })).not.toMatch(ansi)
    expect(onTerminal(`jobs --dir "${dir}"`, { TERM: "dumb" })).not.toMatch(ansi)
  })
})

// ---------------------------------------------------------------------------
// JSON in the file's field order

/** The file's keys, record by record, camel-cased, without those Go wrote as null (absent once decoded). */
const fileKeyOrder = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(fileKeyOrder)
  if (value === null || typeof value !== "object") return null
  const camel = (key: string) => key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())
  return Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [camel(k), fileKeyOrder(v)])
}

describe("incrementum-state --json field order", () => {
  it("show --json has the file's keys in the file's order, record by record", async () => {
    const { code, stdout } = await cli("show", "--json", "--dir", exampleDir())
    expect(code).toBe(0)
    const file = JSON.parse(fs.readFileSync(example, "utf8"))
    // Map keys are camel-cased by fileKeyOrder too; compare records under their original keys.
    const records = (json: Record<string, Record<string, unknown>>, map: string) =>
      Object.fromEntries(Object.entries(json[map]!).map(([key, record]) => [key, fileKeyOrder(record)]))
    const printed = JSON.parse(stdout)
    expect(Object.keys(printed)).toEqual(["repos", "workspaces", "opencodeSessions", "jobs"])
    for (const [fileMap, jsonMap] of [["repos", "repos"], ["workspaces", "workspaces"], ["opencode_sessions", "opencodeSessions"], ["jobs", "jobs"]] as const) {
      expect(records(printed, jsonMap)).toEqual(records(file, fileMap))
    }
  })

  it("job --json prints the job's record in the file's order", async () => {
    const { code, stdout } = await cli("job", "k3x9qa", "--json", "--dir", exampleDir())
    expect(code).toBe(0)
    const file = JSON.parse(fs.readFileSync(example, "utf8"))
    expect(fileKeyOrder(JSON.parse(stdout))).toEqual(fileKeyOrder(file.jobs.k3x9qa))
  })

  it("unknown fields come last in their record, as the file writes them", async () => {
    const dir = stateDir(`{"jobs": {"j": {"id": "j", "x_new": 1, "repo": "r", "feedback": "f"}}}`)
    const { stdout } = await cli("job", "j", "--json", "--dir", dir)
    const keys = Object.keys(JSON.parse(stdout))
    expect(keys.slice(0, 3)).toEqual(["id", "repo", "todoId"])
    expect(keys.indexOf("feedback")).toBeLessThan(keys.indexOf("status"))
    expect(keys.at(-1)).toBe("unknownFields")
  })
})

describe("incrementum-state bundle", () => {
  it("is self-contained, and the viewing commands never load the store's native binding", async () => {
    // A copy of the package with the bundle and nothing else but a koffi (the store's flock
    // binding, the one module left out of the bundle) that throws when it is loaded.
    const pkg = stateDir()
    fs.cpSync(path.dirname(bin), path.join(pkg, path.relative(root, path.dirname(bin))), { recursive: true })
    fs.copyFileSync(path.join(root, "package.json"), path.join(pkg, "package.json"))
    const koffi = path.join(pkg, "node_modules", "koffi")
    fs.mkdirSync(koffi, { recursive: true })
    fs.writeFileSync(path.join(koffi, "package.json"), `{"name": "koffi", "main": "index.js"}`)
    fs.writeFileSync(path.join(koffi, "index.js"), `throw new Error("koffi was loaded")`)
    const copy = path.join(pkg, path.relative(root, bin))
    const dir = exampleDir()
    const at = (...args: Array<string>) => spawnSync(process.execPath, [copy, ...args], { encoding: "utf8", timeout: 60_000 })
    for (const args of [["--version"], ["show"], ["jobs"], ["job", "k3"], ["check"], ["show", "--help"]]) {
      const result = at(...args, "--dir", dir)
      expect([args, result.status, result.stderr]).toEqual([args, 0, ""])
    }
    const writer = at("repo-name", "/src/x", "--dir", dir)
    expect(writer.status).toBe(1)
    expect(writer.stderr).toContain("koffi was loaded")
  })
})
