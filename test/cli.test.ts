/**
 * End to end: the built `incrementum-state` binary on temp state
 * directories (`npm test` builds dist/ before vitest runs).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Schema from "../src/Schema.js"

const root = path.join(import.meta.dirname, "..")
const bin = path.join(root, "dist", "bin.js")
const example = path.join(root, "examples", "state", "state.json")

const cli = (...args: Array<string>) => {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 60_000 })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

const stateDir = (contents?: string | Buffer) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-cli-"))
  if (contents !== undefined) fs.writeFileSync(path.join(dir, "state.json"), contents)
  return dir
}

const exampleDir = () => stateDir(fs.readFileSync(example))

describe("the example state", () => {
  it("is a valid state written exactly as the Go tool writes it", () => {
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
  it("prints repos, workspaces, sessions and jobs as tables, newest first, with ages", () => {
    const { code, stdout, stderr } = cli("show", "--dir", exampleDir())
    expect(stderr).toBe("")
    expect(code).toBe(0)
    for (const heading of ["REPOS (3)", "WORKSPACES (5)", "SESSIONS (6)", "JOBS (6)"]) expect(stdout).toContain(heading)
    const jobLines = stdout.slice(stdout.indexOf("JOBS")).split("\n").slice(2).filter((line) => line !== "")
    // Newest first: the abandoned job from November 10 comes last.
    expect(jobLines.at(-1)).toMatch(/^a9q1vv\s+td-z7z7z7\s.*abandoned\s+1\s+-\s+\d+d$/)
    expect(stdout).toMatch(/k3x9qa\s+td-7f3k2m\s+users-amonks-code-incrementum\s+implementing\s+active\s+1\s+3\s+\d+[smhd]/)
  })

  it("--json prints the decoded state with RFC 3339 times", () => {
    const { code, stdout } = cli("show", "--json", "--dir", exampleDir())
    expect(code).toBe(0)
    const json = JSON.parse(stdout)
    expect(Object.keys(json.jobs).sort()).toEqual(["a9q1vv", "h4c8zz", "k3x9qa", "p7m2zt", "r2b7kc", "w8d4hn"])
    expect(json.jobs.k3x9qa.updatedAt).toBe("2026-11-23T21:59:40.000000001-08:00")
    expect(json.repos["users-amonks-code-website"]).toEqual({ sourcePath: "/Users/amonks/code/website" })
  })

  it("shows the empty state for a directory without a state file", () => {
    const { code, stdout } = cli("show", "--dir", stateDir())
    expect(code).toBe(0)
    expect(stdout).toContain("JOBS (0)")
  })

  it("a corrupt file: one clear line on stderr, non-zero exit, no stack trace, file untouched", () => {
    const bytes = `{"repos": {"r": {"source_path": 5}}}`
    const dir = stateDir(bytes)
    const { code, stdout, stderr } = cli("show", "--dir", dir)
    expect(code).not.toBe(0)
    expect(stdout).toBe("")
    expect(stderr.trim().split("\n")).toEqual([
      `incrementum-state: corrupt ${path.join(dir, "state.json")} at repos["r"].source_path: expected a string, found the number 5`
    ])
    expect(fs.readFileSync(path.join(dir, "state.json"), "utf8")).toBe(bytes)
  })
})

describe("incrementum-state job", () => {
  it("shows a job's changes, commits, tests and reviews by unique prefix", () => {
    const { code, stdout } = cli("job", "k3", "--dir", exampleDir())
    expect(code).toBe(0)
    expect(stdout).toContain("job k3x9qa  todo td-7f3k2m")
    expect(stdout).toContain("change qpvuntsmwlqt  (current)  3 iteration(s)")
    expect(stdout).toMatch(/#1 e3b0c44298fc {2}tests failed\n {5}state: serialize updates with flock\n {5}review: REQUEST_CHANGES/)
    expect(stdout).toMatch(/#3 2c26b46b68ff {2}tests - {2}<- current commit/)
  })

  it("shows a completed job's project review", () => {
    const { code, stdout } = cli("job", "w8d4hn", "--dir", exampleDir())
    expect(code).toBe(0)
    expect(stdout).toContain("(complete)")
    expect(stdout).toContain("project review: ACCEPT")
  })

  it("an unknown id fails with one line", () => {
    const { code, stderr } = cli("job", "zz", "--dir", exampleDir())
    expect(code).toBe(1)
    expect(stderr.trim()).toBe(`incrementum-state: no job matches "zz"`)
  })

  it("an ambiguous prefix fails naming the candidates", () => {
    const dir = stateDir(`{"jobs": {"abc1": {"id": "abc1"}, "abc2": {"id": "abc2"}, "xyz": {"id": "xyz"}}}`)
    const { code, stderr } = cli("job", "abc", "--dir", dir)
    expect(code).toBe(1)
    expect(stderr.trim()).toBe(`incrementum-state: "abc" is ambiguous: abc1, abc2`)
  })
})

describe("incrementum-state check", () => {
  it("passes a valid file with a one-line summary", () => {
    const dir = exampleDir()
    const { code, stdout } = cli("check", "--dir", dir)
    expect(code).toBe(0)
    expect(stdout.trim()).toBe(`ok: ${path.join(dir, "state.json")}: 3 repos, 5 workspaces, 6 sessions, 6 jobs`)
  })

  it("fails a corrupt file with the location of the problem", () => {
    const dir = stateDir(`{\n  "repos": {\n    "r": {"source_path": "x",}\n  }\n}`)
    const { code, stderr } = cli("check", "--dir", dir)
    expect(code).toBe(1)
    expect(stderr.trim()).toBe(`incrementum-state: corrupt ${path.join(dir, "state.json")}:3:30: expected a string key, found "}"`)
  })

  it("never writes, not even to drop legacy prompts", () => {
    const input = fs.readFileSync(path.join(import.meta.dirname, "fixtures", "golden", "legacy_prompt.input.json"))
    const dir = stateDir(input)
    const file = path.join(dir, "state.json")
    const before = fs.statSync(file)
    const { code } = cli("check", "--dir", dir)
    expect(code).toBe(0)
    expect(fs.readFileSync(file).equals(input)).toBe(true)
    expect(fs.statSync(file).mtimeMs).toBe(before.mtimeMs)
    expect(fs.readdirSync(dir)).toEqual(["state.json"])
  })

  it("an absent file is the empty state", () => {
    const { code, stdout } = cli("check", "--dir", stateDir())
    expect(code).toBe(0)
    expect(stdout).toContain("does not exist")
  })
})

describe("incrementum-state repo-name and repo-for", () => {
  it("repo-name records a new repo once and prints its name", () => {
    const dir = stateDir()
    expect(cli("repo-name", "/src/My App", "--dir", dir).stdout.trim()).toBe("src-my-app")
    expect(cli("repo-name", "/src/my-app", "--dir", dir).stdout.trim()).toBe("src-my-app-2")
    expect(cli("repo-name", "/src/My App", "--dir", dir).stdout.trim()).toBe("src-my-app")
    const state = JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8"))
    expect(state.repos).toEqual({ "src-my-app": { source_path: "/src/My App" }, "src-my-app-2": { source_path: "/src/my-app" } })
  })

  it("repo-for prints a workspace's source repo, and fails for a path that is not a workspace", () => {
    const dir = exampleDir()
    const ws = "/Users/amonks/.local/share/incrementum/workspaces/users-amonks-code-website/ws-001/"
    const found = cli("repo-for", ws, "--dir", dir)
    expect([found.code, found.stdout.trim()]).toEqual([0, "/Users/amonks/code/website"])
    const missing = cli("repo-for", "/nowhere", "--dir", dir)
    expect(missing.code).toBe(1)
    expect(missing.stderr.trim()).toBe("incrementum-state: not a workspace: /nowhere")
  })

  it("a lock held elsewhere times out with one line", async () => {
    const dir = stateDir()
    const flockPy = path.join(import.meta.dirname, "fixtures", "lock", "flock.py")
    const holder = spawn("python3", [flockPy, "hold", path.join(dir, "state.lock")], { stdio: ["pipe", "pipe", "inherit"] })
    await new Promise<void>((resolve) => holder.stdout!.once("data", () => resolve()))
    try {
      const { code, stderr } = cli("repo-name", "/x", "--dir", dir, "--lock-timeout", "1")
      expect(code).toBe(1)
      expect(stderr.trim()).toBe(`incrementum-state: timed out after 1s waiting for the lock on ${path.join(dir, "state.lock")}`)
    } finally {
      holder.stdin!.end()
    }
  })
})
