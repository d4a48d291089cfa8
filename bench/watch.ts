/**
 * What watching costs, with `StateStore.changes` on the file store:
 *
 *   tsc -p tsconfig.bench.json && node --expose-gc build/bench/watch.js [--quick]
 *
 * - latency: a python3 process renames a new state.json in (as the Go tool
 *   and every writer do) and prints the wall-clock time just after its
 *   rename; this process takes the wall-clock time when the stream emits
 *   that state. One change at a time, so none coalesces. Median and p99.
 * - idle CPU: this process's CPU time (user + system) while a watch runs
 *   with nothing changing, watched and polled (1 s), and over the same
 *   window with no watch at all.
 * - memory: heap after a full GC, before and across 10 000 changes made by
 *   another store while the watch consumes them.
 *
 * --quick: 200 latency rounds and a 10 s idle window (full: 1 000 and 60 s).
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as readline from "node:readline"
import type * as Schema from "../src/Schema.js"
import * as Store from "../src/Store.js"

const quick = process.argv.includes("--quick")
const rounds = quick ? 200 : 1000
const idleSeconds = quick ? 10 : 60
const memoryChanges = 10_000

const counter = (state: Schema.State): number => {
  const value = state.unknownFields?.["counter"]
  return typeof value === "number" ? value : 0
}

/** Renames `{"counter": k}` in on each "k" line of stdin; prints "k <ns since the epoch>" after the rename. */
const pythonRenamer = `
import os, sys, time, json
d = sys.argv[1]
for line in sys.stdin:
    k = int(line)
    tmp = os.path.join(d, "state.json.tmp%d" % k)
    with open(tmp, "w") as f:
        json.dump({"counter": k}, f)
    os.rename(tmp, os.path.join(d, "state.json"))
    print("%d %d" % (k, time.time_ns()), flush=True)
`

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!

const latency = (dir: string) =>
  Effect.gen(function*() {
    const store = yield* Store.StateStore
    const child = spawn("python3", ["-c", pythonRenamer, dir], { stdio: ["pipe", "pipe", "inherit"] })
    const renamedAt = new Map<number, bigint>()
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      const [k, ns] = line.split(" ")
      renamedAt.set(Number(k), BigInt(ns!))
    })
    const emittedAt = new Map<number, bigint>()
    let waiting: Deferred.Deferred<void> | undefined
    const started = yield* Deferred.make<void>()
    const consumer = yield* store.changes.pipe(
      Stream.runForEach((state) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeNanos
          emittedAt.set(counter(state), now)
          yield* Deferred.succeed(started, undefined)
          if (waiting !== undefined) yield* Deferred.succeed(waiting, undefined)
        })
      ),
      Effect.fork
    )
    yield* Deferred.await(started)
    for (let k = 1; k <= rounds; k++) {
      waiting = yield* Deferred.make<void>()
      child.stdin.write(`${k}\n`)
      while (!emittedAt.has(k)) {
        yield* Deferred.await(waiting)
        waiting = yield* Deferred.make<void>()
      }
    }
    child.stdin.end()
    yield* Fiber.interrupt(consumer)
    // The last rename's line may still be on its way.
    while (renamedAt.size < rounds) yield* Effect.sleep("10 millis")
    const millis = [...emittedAt].filter(([k]) => k > 0).map(([k, at]) => Number(at - renamedAt.get(k)!) / 1e6)
      .sort((a, b) => a - b)
    return { median: percentile(millis, 0.5), p99: percentile(millis, 0.99), max: millis.at(-1)! }
  })

const idleCpu = Effect.gen(function*() {
  const store = yield* Store.StateStore
  const started = yield* Deferred.make<void>()
  const consumer = yield* store.changes.pipe(
    Stream.runForEach(() => Deferred.succeed(started, undefined)),
    Effect.fork
  )
  yield* Deferred.await(started)
  const before = process.cpuUsage()
  yield* Effect.sleep(`${idleSeconds} seconds`)
  const used = process.cpuUsage(before)
  yield* Fiber.interrupt(consumer)
  return (used.user + used.system) / 1000
})

/** The same window with no watch at all: what the process spends idle anyway (timers, GC). */
const idleBaseline = Effect.gen(function*() {
  const before = process.cpuUsage()
  yield* Effect.sleep(`${idleSeconds} seconds`)
  const used = process.cpuUsage(before)
  return (used.user + used.system) / 1000
})

const heapAfterGc = () => {
  ;(globalThis as { gc?: () => void }).gc?.()
  return process.memoryUsage().heapUsed / 1024 / 1024
}

const memory = (dir: string) =>
  Effect.gen(function*() {
    const store = yield* Store.StateStore
    const writer = yield* Store.make({ dir }).pipe(Effect.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer)))
    let last = 0
    const consumer = yield* store.changes.pipe(
      Stream.runForEach((state) => Effect.sync(() => (last = counter(state)))),
      Effect.fork
    )
    const samples: Array<[number, number]> = [[0, heapAfterGc()]]
    for (let k = 1; k <= memoryChanges; k++) {
      yield* writer.update((state) => ({ ...state, unknownFields: { counter: k } }))
      if (k % 2500 === 0) samples.push([k, heapAfterGc()])
    }
    while (last < memoryChanges) yield* Effect.sleep("10 millis")
    yield* Fiber.interrupt(consumer)
    return samples
  }).pipe(Effect.scoped)

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-watch-bench-"))

const program = Effect.gen(function*() {
  const latencyDir = tempDir()
  const lat = yield* Effect.provide(latency(latencyDir), Store.layerNode({ dir: latencyDir }))
  console.log(`latency, rename in another process -> emitted (${rounds} changes): median ${lat.median.toFixed(2)} ms, p99 ${lat.p99.toFixed(2)} ms, max ${lat.max.toFixed(2)} ms`)
  const idleDir = tempDir()
  const baseline = yield* idleBaseline
  const watched = yield* Effect.provide(idleCpu, Store.layerNode({ dir: idleDir }))
  const polled = yield* Effect.provide(idleCpu, Store.layerNode({ dir: idleDir, watch: { mode: "poll" } }))
  console.log(
    `idle CPU over ${idleSeconds} s: no watch ${baseline.toFixed(1)} ms, watched ${watched.toFixed(1)} ms, polled (1 s) ${polled.toFixed(1)} ms`
  )
  const memoryDir = tempDir()
  const samples = yield* Effect.provide(memory(memoryDir), Store.layerNode({ dir: memoryDir }))
  console.log(`heap after GC across ${memoryChanges} changes: ${samples.map(([k, mb]) => `${k}: ${mb.toFixed(1)} MB`).join(", ")}`)
  console.log(JSON.stringify({ rounds, latency: lat, idleSeconds, idleCpuMs: { baseline, watched, polled }, heapMb: samples }))
  for (const dir of [latencyDir, idleDir, memoryDir]) fs.rmSync(dir, { recursive: true, force: true })
})

Effect.runPromise(program).catch((e) => {
  console.error(e)
  process.exit(1)
})
