/**
 * Kill storm: writers running the built library are SIGKILLed at random
 * moments, over and over, on a bare counter and on a realistic state that
 * rides along with it. After every kill: the file decodes, the counter is
 * within [acknowledged, acknowledged + in flight], every other byte is what
 * was written, python3 finds the lock free, and the next writer removes the
 * dead one's temp files. `npm run soak` (SOAK=1) runs hundreds of kills.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { decodeOrFail, FlockPeer, killStorm, type KillStormStats, soak, tempDir } from "../fixtures/workers/harness.js"

const golden = (name: string) => fs.readFileSync(path.join(import.meta.dirname, "..", "fixtures", "golden", name))

const counterKills = soak ? 400 : 40
const realisticKills = soak ? 400 : 40
const pairRounds = soak ? 100 : 10
/** Bounds only against hangs: a kill round takes well under a second. */
const timeoutFor = (kills: number) => 120_000 + kills * 3_000

/** Adds `"counter": n` as the last top-level member of a JSON object's text. */
const withCounter = (json: Buffer, n: number): Buffer => {
  const text = json.toString("utf8").trimEnd()
  if (!text.endsWith("}")) throw new Error("not an object")
  return Buffer.from(`${text.slice(0, -1).trimEnd()},\n  "counter": ${n}\n}`)
}

const peer = new FlockPeer()
afterAll(() => peer.close())

const report = (name: string, stats: KillStormStats) => console.log(`kill storm (${name}): ${JSON.stringify(stats)}`)

describe("kill storm", () => {
  it(`a counter writer SIGKILLed ${counterKills} times`, async () => {
    const dir = tempDir("incrementum-storm-")
    const stats = await killStorm({ dir, kills: counterKills, writers: 1, maxDelayMs: 60, peer })
    report("counter", stats)
    expect(stats.kills).toBe(counterKills)
    expect(stats.lockProbes).toBe(counterKills)
    expect(stats.roundsLeavingTempFiles).toBeGreaterThan(0)
  }, timeoutFor(counterKills))

  it(`a writer SIGKILLed ${realisticKills} times on a realistic state: everything but the counter stays byte for byte`, async () => {
    const dir = tempDir("incrementum-storm-")
    // What the Go tool wrote (full_realistic), plus a top-level counter kept as an unknown key.
    const initial = withCounter(golden("full_realistic.input.json"), 0)
    const canonical = golden("full_realistic.expected.json")
    fs.writeFileSync(path.join(dir, "state.json"), initial)
    const original = decodeOrFail(initial, "the initial file")
    expect(original.unknownFields).toEqual({ counter: 0 })
    // Each writer rewrites the file in Go's form: exactly the golden bytes with the counter after them.
    const bytesFor = (n: number) => withCounter(canonical, n)
    const stats = await killStorm({ dir, kills: realisticKills, writers: 1, maxDelayMs: 60, peer, bytesFor, initialBytes: initial })
    report("realistic", stats)
    const final = decodeOrFail(fs.readFileSync(path.join(dir, "state.json")), "the final file")
    expect({ ...final, unknownFields: {} }).toEqual({ ...original, unknownFields: {} })
    expect(stats.kills).toBe(realisticKills)
    expect(stats.roundsLeavingTempFiles).toBeGreaterThan(0)
  }, timeoutFor(realisticKills))

  it(`two writers contending for the lock, both SIGKILLed at random moments, ${pairRounds} times`, async () => {
    const dir = tempDir("incrementum-storm-")
    fs.writeFileSync(path.join(dir, "state.json"), withCounter(golden("full_realistic.expected.json"), 0))
    const bytesFor = (n: number) => withCounter(golden("full_realistic.expected.json"), n)
    const stats = await killStorm({ dir, kills: 2 * pairRounds, writers: 2, maxDelayMs: 80, peer, bytesFor })
    report("pairs", stats)
    expect(stats.kills).toBe(2 * pairRounds)
  }, timeoutFor(2 * pairRounds))
})
