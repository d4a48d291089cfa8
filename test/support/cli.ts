/**
 * Runs the built `incrementum-state` binary (package.json's `bin`; `npm test`
 * builds it before vitest runs) in a child process.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..", "..")
const packageJson = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"))

/** The binary's path. */
export const bin: string = path.join(root, packageJson.bin["incrementum-state"])

/** What a run printed, and how it exited. */
export interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  readonly millis: number
}

/**
 * Runs the CLI without blocking the test worker (a worker stuck in spawnSync
 * on a busy machine misses vitest's RPC deadline), killed after `timeout`.
 */
export const runCli = (
  args: ReadonlyArray<string>,
  options: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv; readonly timeout?: number } = {}
): Promise<Ran> =>
  new Promise((resolve, reject) => {
    const start = performance.now()
    const child = spawn(process.execPath, [bin, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      timeout: options.timeout ?? 60_000,
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.env === undefined ? {} : { env: options.env })
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr, millis: performance.now() - start }))
  })
