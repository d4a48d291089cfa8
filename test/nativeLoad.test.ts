/**
 * Importing the package must not load a native library: koffi (and libc's
 * flock through it) loads on the first lock. Checked in a fresh process
 * against the built package, by the shared objects mapped into it.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..")

const program = `
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
const koffiMapped = () => /koffi/.test(fs.readFileSync("/proc/self/maps", "utf8"))
const { Effect, Lock } = await Promise.all([import("effect"), import(${JSON.stringify(path.join(root, "dist", "index.js"))})])
  .then(([effect, lib]) => ({ Effect: effect.Effect, Lock: lib.Lock }))
const atImport = koffiMapped()
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-native-"))
try {
  await Effect.runPromise(Lock.withLock(Effect.void, path.join(dir, "state.lock")).pipe(Effect.provide(Lock.layer), Effect.scoped))
} finally {
  fs.rmSync(dir, { recursive: true, force: true })
}
console.log(JSON.stringify({ atImport, afterLock: koffiMapped() }))
`

describe("native code", () => {
  it.skipIf(!fs.existsSync("/proc/self/maps"))("loads on the first lock, not when the package is imported", () => {
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", program], { cwd: root, encoding: "utf8" })
    expect(JSON.parse(out.trim())).toEqual({ atImport: false, afterLock: true })
  })
})
