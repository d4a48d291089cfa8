/**
 * Issue 15, end to end: the built binary moving states between a directory
 * and a real PostgreSQL server (see StorePgServer.ts), and the viewing and
 * recording commands reading a database with `--url`.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Pg from "../src/cli/pg.js"
import * as Schema from "../src/Schema.js"
import * as Store from "../src/Store.js"
import * as StorePg from "../src/StorePg.js"
import { FlockPeer } from "./fixtures/workers/harness.js"
import { clientLayer, freshDatabase } from "./StorePgServer.js"
import { bin, runCli } from "./support/cli.js"

const golden = path.join(import.meta.dirname, "fixtures", "golden")
const example = path.join(import.meta.dirname, "..", "examples", "state", "state.json")

const made: Array<string> = []
afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true })
})

/** A temp state directory, holding `contents` as its state.json when given. */
const stateDir = (contents?: string | Buffer) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-cli-pg-"))
  made.push(dir)
  if (contents !== undefined) fs.writeFileSync(path.join(dir, "state.json"), contents)
  return dir
}
const stateOf = (dir: string) => fs.readFileSync(path.join(dir, "state.json"))

const database = () => Effect.runPromise(freshDatabase)

/** Runs the CLI and expects it to succeed, printing nothing on stderr. */
const ok = async (...args: Array<string>) => {
  const ran = await runCli(args)
  expect(ran.stderr).toBe("")
  expect(ran.code).toBe(0)
  return ran.stdout
}

/** The database's state as a state.json, through `export`. */
const exported = async (url: string) => {
  const dir = stateDir()
  await ok("export", "--url", url, "--dir", dir)
  return stateOf(dir)
}

/** The database's version counter (how many writes it has committed). */
const versionOf = (url: string) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const ctx = yield* Layer.build(clientLayer(url))
    const sql = yield* Effect.provide(SqlClient.SqlClient, ctx)
    const rows = yield* sql<{ version: string }>`SELECT version::text AS version FROM incrementum_state_version`
    return rows[0]?.version
  })))

type Json = any

/** Go's `json.MarshalIndent(v, "", "  ")` of a value whose keys are in the file's order. */
const goJson = (v: Json): string =>
  JSON.stringify(v, null, 2).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026")

/**
 * full_realistic as a newer Go tool would write it: enum values and fields
 * this version does not know at every level, new top-level record kinds.
 */
const newerToolText = (): string => {
  const v = JSON.parse(fs.readFileSync(path.join(golden, "full_realistic.expected.json"), "utf8"))
  const job = v.jobs["7f3k2m"]
  job.status = "paused"
  job.labels = ["infra", { nested: [true, null, 1.5] }]
  job.changes[0].bookmark = "feature/x"
  job.changes[0].commits[0].review.outcome = "DEFER"
  job.changes[0].commits[0].review.score = 0.75
  v.workspaces["users-amonks-code-incrementum/ws-001"].lease = { holder: "ii-2", until: "2026-02-01T00:00:00Z" }
  v.schema_version = 2
  v.todos = { t1: { id: "t1", title: "a new kind of record" } }
  return goJson(v)
}

/** The golden cases this library reads (it refuses a few Go reads: see the README's table of differences). */
const goldenCases = fs.readdirSync(golden).filter((name) => name.endsWith(".expected.json")).map((name) =>
  name.slice(0, -".expected.json".length)
).filter((name) => Either.isRight(Schema.decodeEither(fs.readFileSync(path.join(golden, `${name}.input.json`)))))

/** What the file store writes for `bytes`: the bytes a round trip through the database must give back. */
const asWritten = (bytes: Buffer): string => Schema.encode(Either.getOrThrow(Schema.decodeEither(bytes)))

/** The cases run through the binary; all of them run through the same code in-process, below. */
const throughTheBinary = ["full_realistic", "unknown_keys", "unknown_enum_values", "legacy_prompt", "key_order_scrambled", "empty_object"]

describe("file -> database -> file is byte for byte, through the binary", () => {
  for (const name of throughTheBinary) {
    it(`${name}: Go's bytes come back as they went in; the raw input as the file store writes it`, async () => {
      const expected = fs.readFileSync(path.join(golden, `${name}.expected.json`))
      const input = fs.readFileSync(path.join(golden, `${name}.input.json`))
      const url = await database()
      await ok("import", "--url", url, "--dir", stateDir(expected))
      expect((await exported(url)).toString("latin1")).toBe(expected.toString("latin1"))
      if (!input.equals(expected)) {
        await ok("import", "--url", url, "--dir", stateDir(input), "--force")
        expect((await exported(url)).toString("utf8")).toBe(asWritten(input))
      }
    })
  }

  it("a newer Go tool's file (unknown fields, values and record kinds) keeps every unknown part", async () => {
    const text = newerToolText()
    expect(text).toContain("\"paused\"")
    const url = await database()
    await ok("import", "--url", url, "--dir", stateDir(text))
    expect((await exported(url)).toString("utf8")).toBe(text)
  })
})

describe("file -> database -> file is byte for byte, every golden case (the commands' code in-process)", () => {
  it("covers the golden cases", () => {
    for (const name of [...throughTheBinary, "strings_special", "invalid_utf8", "lone_surrogates"]) expect(goldenCases).toContain(name)
    expect(goldenCases.length).toBeGreaterThan(20)
  })

  const transfer = (url: string, dir: string, force = false) => ({ url, dir, force, lockTimeoutSeconds: Option.none() })
  const inProcess = <A, E>(effect: Effect.Effect<A, E, FileSystem.FileSystem | Path.Path>) =>
    Effect.runPromise(Effect.provide(effect, NodeContext.layer))

  for (const name of goldenCases) {
    it(name, async () => {
      const expected = fs.readFileSync(path.join(golden, `${name}.expected.json`))
      const input = fs.readFileSync(path.join(golden, `${name}.input.json`))
      const url = await database()
      await inProcess(Pg.importFrom(transfer(url, stateDir(expected))))
      const out = stateDir()
      await inProcess(Pg.exportTo(transfer(url, out)))
      expect(stateOf(out).toString("latin1")).toBe(expected.toString("latin1"))
      await inProcess(Pg.importFrom(transfer(url, stateDir(input), true)))
      await inProcess(Pg.exportTo(transfer(url, out, true)))
      expect(stateOf(out).toString("utf8")).toBe(asWritten(input))
    })
  }
})

describe("import", () => {
  const stateA = fs.readFileSync(path.join(golden, "full_realistic.expected.json"))
  const stateB = fs.readFileSync(example)

  it("refuses a database that holds another state, writing nothing; --force replaces it", async () => {
    const url = await database()
    expect(await ok("import", "--url", url.replace("postgres://postgres@", "postgres://postgres:secret@"), "--dir", stateDir(stateA)))
      .toMatch(/^imported 2 repos, 3 workspaces, 3 sessions, 2 jobs from .*state\.json to postgres:\/\/postgres@/)
    const version = await versionOf(url)

    const refused = await runCli(["import", "--url", url, "--dir", stateDir(stateB)])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/^incrementum-state: postgres:\/\/.* already holds a state \(2 repos, 3 workspaces, 3 sessions, 2 jobs\); --force replaces it\n$/)
    expect(refused.stdout).toBe("")
    expect(await versionOf(url)).toBe(version)
    expect(await exported(url)).toEqual(stateA)

    // The same state again is no conflict.
    await ok("import", "--url", url, "--dir", stateDir(stateA))

    await ok("import", "--url", url, "--dir", stateDir(stateB), "--force")
    // Byte for byte: A's records that B lacks are gone.
    expect(await exported(url)).toEqual(stateB)
  })

  it("refuses a corrupt state.json with the decoder's error, and leaves the database untouched", async () => {
    const url = await database()
    await ok("import", "--url", url, "--dir", stateDir(stateA))
    const version = await versionOf(url)
    const dir = stateDir(fs.readFileSync(path.join(golden, "error_time_feb30.input.json")))
    const refused = await runCli(["import", "--url", url, "--dir", dir, "--force"])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toBe(
      `incrementum-state: corrupt ${dir}/state.json at jobs["j"].started_at: expected an RFC 3339 timestamp, found the string "2026-02-30T00:00:00Z"\n`
    )
    expect(await versionOf(url)).toBe(version)
    expect(await exported(url)).toEqual(stateA)
  })

  it("refuses a directory without state.json, and a --dir that does not exist", async () => {
    const url = await database()
    const empty = stateDir()
    const none = await runCli(["import", "--url", url, "--dir", empty])
    expect(none.code).toBe(1)
    expect(none.stderr).toBe(`incrementum-state: ${empty}/state.json does not exist: nothing to import\n`)
    const missing = await runCli(["import", "--url", url, "--dir", path.join(empty, "nope")])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain("no such directory")
  })
})

describe("export", () => {
  const stateA = fs.readFileSync(path.join(golden, "full_realistic.expected.json"))
  const stateB = fs.readFileSync(example)

  it("refuses a state.json holding another state, writing nothing; --force replaces it; a corrupt one never", async () => {
    const url = await database()
    await ok("import", "--url", url, "--dir", stateDir(stateA))
    const dir = stateDir(stateB)
    const refused = await runCli(["export", "--url", url, "--dir", dir])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toBe(
      `incrementum-state: ${dir}/state.json already holds a state (3 repos, 5 workspaces, 6 sessions, 6 jobs); --force replaces it\n`
    )
    expect(stateOf(dir)).toEqual(stateB)
    expect(await ok("export", "--url", url, "--dir", dir, "--force")).toMatch(/^exported 2 repos/)
    expect(stateOf(dir)).toEqual(stateA)

    const corrupt = fs.readFileSync(path.join(golden, "error_time_feb30.input.json"))
    const bad = stateDir(corrupt)
    const kept = await runCli(["export", "--url", url, "--dir", bad, "--force"])
    expect(kept.code).toBe(1)
    expect(kept.stderr).toMatch(/^incrementum-state: corrupt .*state\.json at jobs\["j"\]\.started_at/)
    expect(stateOf(bad)).toEqual(corrupt)
  })

  it("writes under state.lock: it waits for the Go tool's flock, and gives up after --lock-timeout writing nothing", async () => {
    const url = await database()
    await ok("import", "--url", url, "--dir", stateDir(stateA))
    const dir = stateDir()
    const peer = new FlockPeer()
    try {
      expect(await peer.hold(path.join(dir, "state.lock"))).toBe("locked")
      const timedOut = await runCli(["export", "--url", url, "--dir", dir, "--lock-timeout", "1"])
      expect(timedOut.code).toBe(1)
      expect(timedOut.stderr).toMatch(/^incrementum-state: .*state\.lock/)
      expect(fs.existsSync(path.join(dir, "state.json"))).toBe(false)
      // Released while export waits: it goes on and writes.
      const waiting = runCli(["export", "--url", url, "--dir", dir, "--lock-timeout", "30"])
      await new Promise((resolve) => setTimeout(resolve, 1500))
      expect(fs.existsSync(path.join(dir, "state.json"))).toBe(false)
      await peer.release()
      const done = await waiting
      expect(done.stderr).toBe("")
      expect(done.code).toBe(0)
      expect(stateOf(dir)).toEqual(stateA)
    } finally {
      await peer.close()
    }
  })
})

describe("--url on the other commands", () => {
  it("show, jobs, job and check print from the database what they print from the directory", async () => {
    const url = await database()
    const dir = stateDir(fs.readFileSync(example))
    await ok("import", "--url", url, "--dir", dir)
    for (
      const args of [
        ["show", "--json"],
        ["show", "--status", "all", "--limit", "0"],
        ["jobs", "--all", "--json"],
        ["jobs", "--status", "failed,abandoned"],
        ["job", "k3", "--json"],
        ["job", "k3x9qa"]
      ]
    ) {
      const fromDir = await ok(...args, "--dir", dir)
      expect(await ok(...args, "--url", url)).toBe(fromDir)
    }
    expect(await ok("check", "--url", url)).toMatch(/^ok: postgres:\/\/.*: 3 repos, 5 workspaces, 6 sessions, 6 jobs\n$/)
  })

  it("repo-name records a repo in the database, and repo-for reads it back", async () => {
    const url = await database()
    await ok("import", "--url", url, "--dir", stateDir(fs.readFileSync(example)))
    const source = "/home/someone/code/new-thing"
    expect(await ok("repo-name", "--url", url, source)).toBe("home-someone-code-new-thing\n")
    const state = JSON.parse(await ok("show", "--json", "--url", url))
    expect(state.repos["home-someone-code-new-thing"]).toEqual({ sourcePath: source })
    const workspace = Object.entries(JSON.parse(await ok("show", "--json", "--dir", stateDir(fs.readFileSync(example)))).workspaces)[0] as [string, { path: string; repo: string }]
    expect(await ok("repo-for", "--url", url, workspace[1].path)).toBe(`${state.repos[workspace[1].repo].sourcePath}\n`)
  })

  it("--url with --dir is a usage error (exit 2), as is a URL that is not postgres://", async () => {
    for (const command of ["show", "jobs", "check", "watch"]) {
      const both = await runCli([command, "--url", "postgres://127.0.0.1/x", "--dir", stateDir()])
      expect(both.code).toBe(2)
      expect(both.stderr).toContain("--dir and --url name two different states: give one or the other")
    }
    const both = await runCli(["repo-name", "--url", "postgres://127.0.0.1/x", "--dir", stateDir(), "/x"])
    expect(both.code).toBe(2)
    const bad = await runCli(["show", "--url", "localhost:5432"])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain(`--url wants a postgres:// URL, got "localhost:5432"`)
    const missing = await runCli(["export", "--dir", stateDir()])
    expect(missing.code).toBe(2)
  })
})

describe("watch --url", () => {
  it("prints another process's writes to the database (LISTEN/NOTIFY); exits 0 on SIGINT", async () => {
    const url = await database()
    const layer = StorePg.layerUrl(url)
    const child = spawn(process.execPath, [bin, "watch", "--json", "--url", url], { stdio: ["ignore", "pipe", "pipe"], timeout: 90_000 })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    const closed = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.on("close", (code, signal) => resolve({ code, signal }))
    )
    // Another process's writes, one repo at a time, until the watch prints a line (its start-up may be slow on a busy machine).
    await Effect.runPromise(Effect.gen(function*() {
      const store = yield* Store.StateStore
      for (let k = 0; k < 300 && !stdout.includes("\n"); k++) {
        yield* store.update((s) => ({ ...s, repos: { ...s.repos, [`r${k}`]: { sourcePath: `/src/r${k}` } } }))
        yield* Effect.sleep("200 millis")
      }
    }).pipe(Effect.provide(layer)))
    child.kill("SIGINT")
    const { code, signal } = await closed
    expect(stderr).toBe("")
    expect(signal).toBe(null)
    expect(code).toBe(0)
    expect(JSON.parse(stdout.split("\n")[0]!)).toMatchObject({ _tag: "RepoAdded", name: expect.stringMatching(/^r\d+$/) })
  }, 120_000)
})

describe("an unreachable server", () => {
  it("a refused connection is one line naming the server without its password, exit 1", async () => {
    for (const args of [["show"], ["import", "--dir", stateDir(fs.readFileSync(example))], ["export", "--dir", stateDir()]]) {
      const ran = await runCli([...args, "--url", "postgres://someone:secret@127.0.0.1:1/none"])
      expect(ran.code).toBe(1)
      expect(ran.stderr).toBe("incrementum-state: connect postgres://someone@127.0.0.1:1/none: connect ECONNREFUSED 127.0.0.1:1\n")
    }
  })

  it("a server that accepts and never answers is an error within seconds, not a hang", async () => {
    const silent = net.createServer(() => {})
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve))
    const { port } = silent.address() as net.AddressInfo
    try {
      const ran = await runCli(["check", "--url", `postgres://someone:secret@127.0.0.1:${port}/none`], { timeout: 50_000 })
      expect(ran.code).toBe(1)
      // The driver's own connect timeout and @effect/sql-pg's are both 5 s: either may speak first.
      expect(ran.stderr).toMatch(new RegExp(`^incrementum-state: connect postgres://someone@127\\.0\\.0\\.1:${port}/none: .*time(d)? ?out.*\\n$`, "i"))
      expect(ran.stderr).not.toContain("secret")
    } finally {
      silent.close()
    }
  })
})

describe("start-up without --url", () => {
  /** The chunks a module of the bundle imports statically, and theirs: what loading it loads. */
  const staticClosure = (file: string, seen = new Set<string>()): Set<string> => {
    if (seen.has(file)) return seen
    seen.add(file)
    const code = fs.readFileSync(file, "utf8")
    for (const [, spec] of code.matchAll(/(?:from|import)\s*"(\.{1,2}\/[^"]+)"/g)) {
      staticClosure(path.resolve(path.dirname(file), spec!), seen)
    }
    return seen
  }

  it("the program the binary loads for every command does not load pg, which only --url imports", () => {
    const chunks = path.join(path.dirname(bin), "chunks")
    const all = fs.readdirSync(chunks).map((name) => path.join(chunks, name))
    const withPg = all.filter((file) => fs.readFileSync(file, "utf8").includes("pg_advisory_xact_lock") || fs.readFileSync(file, "utf8").includes("SCRAM-SHA-256"))
    expect(withPg).toHaveLength(1)
    const program = all.find((file) => path.basename(file).startsWith("node-"))!
    const loaded = staticClosure(program)
    expect(loaded.size).toBeGreaterThan(1)
    expect([...loaded].filter((file) => withPg.includes(file))).toEqual([])
  })
})
