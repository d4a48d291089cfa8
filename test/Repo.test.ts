import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Repo from "../src/Repo.js"
import * as Schema from "../src/Schema.js"
import * as Store from "../src/Store.js"
import * as Timestamp from "../src/Timestamp.js"

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

  it("concurrent callers in several processes all get the same name", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "incrementum-repo-"))
    const worker = path.join(import.meta.dirname, "fixtures", "repo", "name-worker.mjs")
    const run = () =>
      new Promise<Array<string>>((resolve, reject) =>
        execFile(process.execPath, [worker, dir, "/src/Shared", "/src/shared", "/src/other"], (error, stdout, stderr) =>
          error ? reject(new Error(stderr)) : resolve(JSON.parse(stdout))
        )
      )
    const results = await Promise.all(Array.from({ length: 5 }, run))
    // Each path got one name, whichever process recorded it first.
    for (const names of results) expect(names).toEqual(results[0])
    const state = JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8"))
    expect(Object.keys(state.repos).sort()).toEqual(["src-other", "src-shared", "src-shared-2"])
    expect(new Set(results[0]).size).toBe(3)
  })
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
