/**
 * The store across real processes: Node workers running the built library,
 * python3 writers taking the same flock, and writers killed mid-update.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Schema from "../src/Schema.js"

const fixtures = path.join(import.meta.dirname, "fixtures")
const worker = path.join(fixtures, "store", "update-worker.mjs")
const pyWriter = path.join(fixtures, "store", "py-writer.py")
const flockPy = path.join(fixtures, "lock", "flock.py")

/** Scales the kill test up under `npm run soak`. */
const kills = process.env["SOAK"] ? 500 : 40

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-procs-"))

const exec = (command: string, args: ReadonlyArray<string>) =>
  new Promise<string>((resolve, reject) =>
    execFile(command, args, { timeout: 120_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${command} ${args.join(" ")}: ${error.message}\n${stderr}`)) : resolve(stdout)
    )
  )

const readState = (dir: string): Schema.State => {
  const decoded = Schema.decodeEither(fs.readFileSync(path.join(dir, "state.json")))
  if (Either.isLeft(decoded)) throw new Error(`state.json does not decode: ${decoded.left.message}`)
  return decoded.right
}

const counterOf = (state: Schema.State) => state.unknownFields?.["counter"] ?? 0

const tempFiles = (dir: string) => fs.readdirSync(dir).filter((name) => name.startsWith("state.json.tmp"))

/** Spawns a worker that updates forever and resolves `acked` with the last acknowledged value at exit. */
const startWorker = (dir: string) => {
  const child: ChildProcess = spawn(process.execPath, [worker, dir, "0"], { stdio: ["ignore", "pipe", "pipe"] })
  let acked = -1
  let buffer = ""
  let firstAck: () => void = () => {}
  const started = new Promise<void>((resolve) => (firstAck = resolve))
  child.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString()
    let i
    while ((i = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, i)
      buffer = buffer.slice(i + 1)
      if (line.startsWith("ack ")) {
        acked = Number(line.slice(4))
        firstAck()
      }
    }
  })
  let stderr = ""
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()))
  return { child, started, exited, acked: () => acked, stderr: () => stderr }
}

describe("StateStore across processes", () => {
  it("4 Node processes x 250 updates and 2 python3 flock writers end with an exact count", async () => {
    const dir = tempDir()
    await Promise.all([
      ...Array.from({ length: 4 }, () => exec(process.execPath, [worker, dir, "250"])),
      ...Array.from({ length: 2 }, () => exec("python3", [pyWriter, dir, "100"]))
    ])
    expect(counterOf(readState(dir))).toBe(4 * 250 + 2 * 100)
  })

  it(`a writer SIGKILLed mid-update ${kills} times: the file always decodes, no acknowledged update is lost, the lock is free`, async () => {
    const dir = tempDir()
    // A realistic state rides along and must come through every kill unchanged.
    fs.copyFileSync(path.join(fixtures, "golden", "full_realistic.expected.json"), path.join(dir, "state.json"))
    const jobsBefore = JSON.stringify(readState(dir).jobs)
    let killedMidWrite = 0
    for (let k = 0; k < kills; k++) {
      const w = startWorker(dir)
      await w.started
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 60))
      w.child.kill("SIGKILL")
      await w.exited
      const state = readState(dir)
      const counter = counterOf(state) as number
      // The update in flight when killed may or may not have landed; nothing acknowledged is lost.
      expect(counter).toBeGreaterThanOrEqual(w.acked())
      expect(counter).toBeLessThanOrEqual(w.acked() + 1)
      expect(JSON.stringify(state.jobs)).toBe(jobsBefore)
      expect((await exec("python3", [flockPy, "try", path.join(dir, "state.lock")])).trim()).toBe("free")
      if (tempFiles(dir).length > 0) killedMidWrite++
    }
    // The next writer clears what the killed ones left behind.
    await exec(process.execPath, [worker, dir, "1"])
    expect(tempFiles(dir)).toEqual([])
    expect(killedMidWrite).toBeGreaterThan(0)
  })
})
