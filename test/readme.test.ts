/**
 * The README is the first thing a user runs: it starts with this repository's two commands
 * (run the example, run the tests), then the install line for an app; every `ts` block
 * type-checks (strict, as this repository is, against src/ as `@incrementum/state`), and the
 * ids its snippets look up exist in examples/state, which they are written against.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import { exampleState } from "./fixtures/example-state.js"

const root = path.join(import.meta.dirname, "..")
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")
const blocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!)

describe("README.md", () => {
  it("starts with the repository's two commands, then the one that installs the library into an app, effect 3 named", () => {
    const shBlocks = [...readme.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!.trim().split("\n"))
    expect(shBlocks[0]!.map((line) => line.split("#")[0]!.trim())).toEqual(["npm install && npm start", "npm test"])
    expect(shBlocks[1]).toEqual([
      "npm install @incrementum/state effect@^3.22 @effect/platform@^0.97 @effect/platform-node@^0.108"
    ])
    expect(readme.indexOf(shBlocks[1]![0]!)).toBeLessThan(600)
    expect(readme).toMatch(/effect 4\s+is not supported/)
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"))
    const optional = Object.keys(pkg.peerDependenciesMeta ?? {}).filter((name) => pkg.peerDependenciesMeta[name].optional)
    const required = Object.keys(pkg.peerDependencies).filter((name) => !optional.includes(name))
    expect(required.sort()).toEqual(["@effect/platform", "@effect/platform-node", "effect"])
  })

  it("looks up only ids that exist in examples/state", () => {
    const code = blocks.join("\n")
    const ids = (pattern: RegExp) => [...code.matchAll(pattern)].map((m) => m[1]!)
    const jobIds = ids(/(?:Job\.(?:update|updateEffect|get)\(|jobs\[)"([^"]+)"/g)
    const todoIds = ids(/activeForTodo\([^,"]*,?\s*"([^"]+)"/g)
    const workspaceKeys = ids(/Workspace\.(?:update|updateEffect|get)\("([^"]+)"/g)
    const sessionKeys = ids(/Session\.(?:update|updateEffect|get)\("([^"]+)"/g)
    const repos = ids(/(?:byRepo\([^,"]*,?\s*|repo: )"([^"]+)"/g)
    expect(jobIds.length).toBeGreaterThan(5)
    expect(todoIds.length * workspaceKeys.length * sessionKeys.length * repos.length).toBeGreaterThan(0)
    const jobs = Object.values(exampleState.jobs)
    // The failing lookups of the test snippet are failures on purpose, against its own seed.
    expect(jobIds.filter((id) => !(id in exampleState.jobs))).toEqual([])
    expect(todoIds.filter((id) => !jobs.some((job) => job.todoId === id))).toEqual([])
    expect(workspaceKeys.filter((key) => !(key in exampleState.workspaces))).toEqual([])
    expect(sessionKeys.filter((key) => !(key in exampleState.opencodeSessions))).toEqual([])
    expect(repos.filter((repo) => !(repo in exampleState.repos))).toEqual([])
  })

  it(`has ${blocks.length} ts blocks, each of which type-checks on its own`, async () => {
    expect(blocks.length).toBeGreaterThanOrEqual(5)
    // Under node_modules, so that effect, @effect/* and @types/node resolve from this repository.
    const cache = path.join(root, "node_modules", ".cache")
    fs.mkdirSync(cache, { recursive: true })
    const dir = fs.mkdtempSync(path.join(cache, "readme-"))
    try {
      const files = blocks.map((code, i) => {
        const file = `block-${i + 1}.ts`
        fs.writeFileSync(path.join(dir, file), code)
        return file
      })
      const base = JSON.parse(fs.readFileSync(path.join(root, "tsconfig.json"), "utf8")).compilerOptions
      fs.writeFileSync(
        path.join(dir, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: {
            ...base,
            noEmit: true,
            // Snippets show values without always using them.
            noUnusedLocals: false,
            noUnusedParameters: false,
            paths: {
              "@incrementum/state": [path.join(root, "src", "index.ts")],
              "@incrementum/state/*": [path.join(root, "src", "*.ts")]
            }
          },
          files
        })
      )
      // Asynchronously: a worker blocked for as long as tsc takes on a busy machine misses
      // vitest's RPC deadline ("Timeout calling onTaskUpdate").
      const tsc = await promisify(execFile)(
        process.execPath,
        [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", dir],
        { encoding: "utf8" }
      ).then(
        ({ stderr, stdout }) => ({ output: stdout + stderr, code: 0 }),
        (error: { stdout?: string; stderr?: string; code?: number }) => ({
          output: `${error.stdout ?? ""}${error.stderr ?? ""}`,
          code: error.code ?? -1
        })
      )
      // Errors name the block (block-N.ts) and the line within it.
      expect(tsc.output).toBe("")
      expect(tsc.code).toBe(0)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
