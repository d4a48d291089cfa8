import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Repo from "../src/Repo.js"
import * as Schema from "../src/Schema.js"
import * as Store from "../src/Store.js"
import * as Timestamp from "../src/Timestamp.js"

const made: Array<string> = []
afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true })
})
const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-repo-"))
  made.push(dir)
  return dir
}

const load = Effect.flatMap(Store.StateStore, (store) => store.load)

const workspace = (repo: string, wsPath: string): Schema.WorkspaceInfo => ({
  name: "ws-1",
  repo,
  path: wsPath,
  status: "acquired",
  createdAt: Timestamp.zero,
  updatedAt: Timestamp.zero,
  acquiredAt: Timestamp.zero,
  provisioned: true
})

describe("getOrCreateRepoName", () => {
  it.effect("records a new repo under its sanitized name", () =>
    Effect.gen(function*() {
      expect(yield* Repo.getOrCreateRepoName("/Users/amonks/code/incrementum")).toBe("users-amonks-code-incrementum")
      expect((yield* load).repos).toEqual({ "users-amonks-code-incrementum": { sourcePath: "/Users/amonks/code/incrementum" } })
    }).pipe(Effect.provide(Store.layerMemory())))

  it.effect("returns the name already mapped to that exact path, writing nothing", () =>
    Effect.gen(function*() {
      const name = yield* Repo.getOrCreateRepoName("/src/app")
      const before = yield* load
      expect(yield* Repo.getOrCreateRepoName("/src/app")).toBe(name)
      expect(yield* load).toBe(before)
    }).pipe(Effect.provide(Store.layerMemory())))

  it.effect("takes the first free -2, -3 … when the sanitized name is taken by another path", () =>
    Effect.gen(function*() {
      expect(yield* Repo.getOrCreateRepoName("/src/App")).toBe("src-app")
      expect(yield* Repo.getOrCreateRepoName("/src/app")).toBe("src-app-2")
      expect(yield* Repo.getOrCreateRepoName("/SRC/APP")).toBe("src-app-3")
      expect(yield* Repo.getOrCreateRepoName("/src/app")).toBe("src-app-2")
    }).pipe(Effect.provide(Store.layerMemory())))

  it.effect("fills a gap: the first free suffix, not the next after the highest", () =>
    Effect.gen(function*() {
      expect(yield* Repo.getOrCreateRepoName("/x/y")).toBe("x-y-2")
    }).pipe(Effect.provide(Store.layerMemory({
      ...Schema.empty,
      repos: { "x-y": { sourcePath: "/other" }, "x-y-3": { sourcePath: "/third" } }
    }))))

  it.effect("a path that sanitizes to nothing still gets a usable name", () =>
    Effect.gen(function*() {
      expect(Repo.sanitizeRepoName("/")).toBe("")
      expect(yield* Repo.getOrCreateRepoName("/")).toBe(Repo.fallbackName)
      expect(yield* Repo.getOrCreateRepoName("!!!")).toBe(`${Repo.fallbackName}-2`)
    }).pipe(Effect.provide(Store.layerMemory())))

  it.effect("expands ~/ with the home directory", () =>
    Effect.gen(function*() {
      const expected = Repo.sanitizeRepoName(path.join(os.homedir(), "code/x"))
      expect(yield* Repo.getOrCreateRepoName("~/code/x")).toBe(expected)
      expect((yield* load).repos[expected]).toEqual({ sourcePath: "~/code/x" })
    }).pipe(Effect.provide(Store.layerMemory())))

  it.effect("returns an existing mapping whatever its name, even one the path would not sanitize to", () =>
    Effect.gen(function*() {
      const before = yield* load
      expect(yield* Repo.getOrCreateRepoName("/src/app")).toBe("custom")
      expect(yield* load).toBe(before)
      // Compared exactly as given, as Go does: another spelling is another repo.
      expect(yield* Repo.getOrCreateRepoName("/src/app/")).toBe("src-app-2")
    }).pipe(Effect.provide(Store.layerMemory({
      ...Schema.empty,
      repos: { custom: { sourcePath: "/src/app" }, "src-app": { sourcePath: "/elsewhere" } }
    }))))

  it.effect("names such as constructor are plain data", () =>
    Effect.gen(function*() {
      expect(yield* Repo.getOrCreateRepoName("/constructor")).toBe("constructor")
      expect(yield* Repo.getOrCreateRepoName("/Constructor")).toBe("constructor-2")
      expect(yield* Repo.getOrCreateRepoName("/to String")).toBe("to-string")
      const repos = (yield* load).repos
      expect(Object.keys(repos).sort()).toEqual(["constructor", "constructor-2", "to-string"])
      expect(Object.getPrototypeOf(repos)).toBe(null)
    }).pipe(Effect.provide(Store.layerMemory())))

  it("an existing repo leaves the file on disk untouched", async () => {
    const dir = tempDir()
    const run = <A>(effect: Effect.Effect<A, unknown, Store.StateStore>) =>
      Effect.runPromise(Effect.provide(effect, Store.layerNode({ dir })))
    expect(await run(Repo.getOrCreateRepoName("/src/app"))).toBe("src-app")
    const file = path.join(dir, "state.json")
    const bytes = fs.readFileSync(file)
    const before = fs.statSync(file)
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(await run(Repo.getOrCreateRepoName("/src/app"))).toBe("src-app")
    const after = fs.statSync(file)
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs])
    expect(fs.readFileSync(file).equals(bytes)).toBe(true)
  })

  it("processes racing on one state dir all get the same name for each path", async () => {
    const dir = tempDir()
    const worker = path.join(import.meta.dirname, "fixtures", "repo", "name-worker.mjs")
    // "/src/Shared" and "/src/shared" both sanitize to src-shared: which one gets it depends on
    // which process gets the lock first, so half the workers ask in the other order.
    const paths = ["/src/Shared", "/src/shared", "/src/other", "/"]
    const workers = Array.from({ length: 6 }, (_, i) => {
      const order = i % 2 === 0 ? paths : [...paths].reverse()
      const child = spawn(process.execPath, [worker, dir, ...order], { stdio: ["pipe", "pipe", "pipe"] })
      let stdout = ""
      let stderr = ""
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      const ready = new Promise<void>((resolve, reject) => {
        child.stdout.on("data", () => stdout.startsWith("ready\n") && resolve())
        child.on("exit", () => reject(new Error(`worker exited before it was ready: ${stderr}`)))
      })
      const done = new Promise<Record<string, string>>((resolve, reject) =>
        child.on("exit", (code) => {
          if (code !== 0) return reject(new Error(`worker exited with ${code}: ${stderr}`))
          const names: Array<string> = JSON.parse(stdout.slice("ready\n".length))
          resolve(Object.fromEntries(order.map((p, j) => [p, names[j]!])))
        })
      )
      return { child, ready, done }
    })
    await Promise.all(workers.map((w) => w.ready))
    for (const w of workers) w.child.stdin.end("go\n")
    const results = await Promise.all(workers.map((w) => w.done))

    for (const names of results) expect(names).toEqual(results[0])
    const names = results[0]!
    expect(names["/src/other"]).toBe("src-other")
    expect(names["/"]).toBe(Repo.fallbackName)
    expect([names["/src/Shared"], names["/src/shared"]].sort()).toEqual(["src-shared", "src-shared-2"])
    // The file holds exactly one repo per path, under the names every process was given.
    const state = JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8"))
    expect(state.repos).toEqual(Object.fromEntries(paths.map((p) => [names[p], { source_path: p }])))
  }, 60_000)
})

describe("repoPathForWorkspace", () => {
  const state: Schema.State = {
    ...Schema.empty,
    repos: { app: { sourcePath: "/src/app" }, empty: { sourcePath: "" } },
    workspaces: {
      "app/ws-1": workspace("app", "/ws/app/ws-1/"),
      "gone/ws-1": workspace("gone", "/ws/gone/ws-1"),
      "empty/ws-1": workspace("empty", "/ws/empty/ws-1")
    }
  }

  it.effect("finds the source path, comparing cleaned paths", () =>
    Effect.gen(function*() {
      expect(yield* Repo.repoPathForWorkspace("/ws/app/ws-1")).toEqual(Option.some("/src/app"))
      expect(yield* Repo.repoPathForWorkspace("/ws//app/x/../ws-1/.")).toEqual(Option.some("/src/app"))
    }).pipe(Effect.provide(Store.layerMemory(state))))

  it.effect("is None for a path that is not a workspace", () =>
    Effect.gen(function*() {
      expect(yield* Repo.repoPathForWorkspace("/ws/app")).toEqual(Option.none())
    }).pipe(Effect.provide(Store.layerMemory(state))))

  it.effect("fails with RepoSourceMissing when the workspace's repo has no source path", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.flip(Repo.repoPathForWorkspace("/ws/gone/ws-1"))
      expect(missing).toBeInstanceOf(Repo.RepoSourceMissing)
      expect(missing._tag === "RepoSourceMissing" && missing.repo).toBe("gone")
      const empty = yield* Effect.flip(Repo.repoPathForWorkspace("/ws/empty/ws-1"))
      expect(empty._tag).toBe("RepoSourceMissing")
      expect(empty.message).toContain("/ws/empty/ws-1")
    }).pipe(Effect.provide(Store.layerMemory(state))))
})
