/**
 * `incrementum-state watch` run as the built binary: it prints another
 * process's changes as events and exits 0 on Ctrl-C (SIGINT).
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..")
const bin = path.join(root, JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")).bin["incrementum-state"])

const made: Array<string> = []
afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true })
})

const renameIn = (dir: string, state: unknown) => {
  const temp = path.join(dir, "state.json.tmp7")
  fs.writeFileSync(temp, JSON.stringify(state))
  fs.renameSync(temp, path.join(dir, "state.json"))
}

const job = (id: string, stage: string) => ({
  id,
  repo: "r",
  todo_id: "t",
  agent: "opencode",
  stage,
  status: "active",
  created_at: "2026-01-01T00:00:00Z",
  started_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
  completed_at: "0001-01-01T00:00:00Z"
})

/**
 * Starts `watch` with `args`, then renames in `states(k)` for k = 1, 2, …
 * until the watch prints a line (the watch may not be established for the
 * first ones: they become its starting state), then sends SIGINT.
 */
const watchUntilLine = (args: ReadonlyArray<string>, dir: string, states: (k: number) => unknown) =>
  new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [bin, "watch", "--dir", dir, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 90_000
    })
    let stdout = ""
    let stderr = ""
    let k = 0
    const writer = setInterval(() => renameIn(dir, states(++k)), 100)
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
      if (stdout.includes("\n")) {
        clearInterval(writer)
        child.kill("SIGINT")
      }
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code, signal) => {
      clearInterval(writer)
      resolve({ code, signal, stdout, stderr })
    })
  })

describe("incrementum-state watch (the binary)", () => {
  it("prints another process's change as a JSON line, and exits 0 on SIGINT", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-watch-"))
    made.push(dir)
    const result = await watchUntilLine(["--json"], dir, (k) => ({
      repos: Object.fromEntries(Array.from({ length: k }, (_, i) => [`r${i}`, { source_path: `/src/r${i}` }]))
    }))
    expect(result.stderr).toBe("")
    expect(result.signal).toBe(null)
    expect(result.code).toBe(0)
    const [line] = result.stdout.split("\n")
    expect(JSON.parse(line!)).toMatchObject({ _tag: "RepoAdded", name: expect.stringMatching(/^r\d+$/) })
  }, 120_000)

  it("--job prints only the events of the jobs it names, as text", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-watch-"))
    made.push(dir)
    const stages = ["implementing", "testing"]
    // Each round moves both jobs to the other stage; only job abc's moves are printed.
    const result = await watchUntilLine(["--job", "ab"], dir, (k) => ({
      jobs: { abc: job("abc", stages[k % 2]!), xyz: job("xyz", stages[k % 2]!) }
    }))
    expect(result.code).toBe(0)
    const [line] = result.stdout.split("\n")
    expect(line).toMatch(/^job abc (stage (implementing|testing) -> (implementing|testing)|created in r .*)$/)
    expect(result.stdout).not.toContain("xyz")
  }, 120_000)
})
