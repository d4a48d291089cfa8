/**
 * Kill storm: writers running the built library are SIGKILLed at random
 * moments, over and over, on a bare counter and on a realistic state that
 * rides along with it. After every kill: the file decodes, the counter is
 * within [acknowledged, acknowledged + in flight], every other byte is what
 * was written, python3 finds the lock free, and the next writer removes the
 * dead one's temp files. `npm run soak` (SOAK=1) runs hundreds of kills.
 *
 * Nothing here depends on the machine's speed: every round checks what must
 * hold whatever the timing, and every other round kills its writers only
 * after their first acknowledged update, so those kills land inside the
 * update loop (mid-write, most of the time) on a busy machine too.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import {
  decodeOrFail,
  FlockPeer,
  killStorm,
  type KillStormOptions,
  type KillStormStats,
  soak,
  tempDir
} from "../fixtures/workers/harness.js"

const golden = (name: string) => fs.readFileSync(path.join(import.meta.dirname, "..", "fixtures", "golden", name))

const counterKills = soak ? 400 : 10
const realisticKills = soak ? 400 : 10
const pairRounds = soak ? 100 : 4
/** Odd rounds kill inside the update loop; even ones at any moment, start-up and first write included. */
const afterFirstAck = (round: number) => round % 2 === 1
/** Bounds only against hangs: a kill round takes well under a second. */
const timeoutFor = (kills: number) => 120_000 + kills * 3_000

/** Adds `"counter": n` as the last top-level member of a JSON object's text. */
const withCounter = (json: Buffer, n: number): Buffer => {
  const text = json.toString("utf8").trimEnd()
  if (!text.endsWith("}")) throw new Error("not an object")
  return Buffer.from(`${text.slice(0, -1).trimEnd()},\n  "counter": ${n}\n}`)
}

/**
 * `killStorm`, then more rounds, each killed inside the update loop, until one has left a temp
 * file behind: the storm must have killed a writer mid-write, and how many rounds that takes
 * is luck, not a property of the library. Bounded by ten times the rounds asked for.
 */
const stormUntilMidWrite = async (options: KillStormOptions): Promise<KillStormStats> => {
  const total = await killStorm(options)
  while (total.roundsLeavingTempFiles === 0 && total.kills < 10 * options.kills) {
    const more = await killStorm({ ...options, kills: options.writers, afterFirstAck: () => true })
    for (const key of Object.keys(total) as Array<keyof KillStormStats>) total[key] += more[key]
  }
  return total
}

const peer = new FlockPeer()
afterAll(() => peer.close())

const report = (name: string, stats: KillStormStats) => console.log(`kill storm (${name}): ${JSON.stringify(stats)}`)

describe("kill storm", () => {
  it(`a counter writer SIGKILLed ${counterKills} times`, async () => {
    const dir = tempDir("incrementum-storm-")
    const stats = await stormUntilMidWrite({ dir, kills: counterKills, writers: 1, maxDelayMs: 60, peer, afterFirstAck })
    report("counter", stats)
    expect(stats.kills).toBeGreaterThanOrEqual(counterKills)
    expect(stats.lockProbes).toBe(stats.kills)
    expect(stats.roundsLeavingTempFiles).toBeGreaterThan(0)
  }, timeoutFor(10 * counterKills))

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
    const stats = await stormUntilMidWrite({ dir, kills: realisticKills, writers: 1, maxDelayMs: 60, peer, bytesFor, initialBytes: initial, afterFirstAck })
    report("realistic", stats)
    const final = decodeOrFail(fs.readFileSync(path.join(dir, "state.json")), "the final file")
    expect({ ...final, unknownFields: {} }).toEqual({ ...original, unknownFields: {} })
    expect(stats.kills).toBeGreaterThanOrEqual(realisticKills)
    expect(stats.roundsLeavingTempFiles).toBeGreaterThan(0)
  }, timeoutFor(10 * realisticKills))

  it(`two writers contending for the lock, both SIGKILLed at random moments, ${pairRounds} times`, async () => {
    const dir = tempDir("incrementum-storm-")
    fs.writeFileSync(path.join(dir, "state.json"), withCounter(golden("full_realistic.expected.json"), 0))
    const bytesFor = (n: number) => withCounter(golden("full_realistic.expected.json"), n)
    const stats = await killStorm({ dir, kills: 2 * pairRounds, writers: 2, maxDelayMs: 80, peer, bytesFor, afterFirstAck })
    report("pairs", stats)
    expect(stats.kills).toBe(2 * pairRounds)
  }, timeoutFor(2 * pairRounds))
})
