import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as Schema from "../src/Schema.js"
import { NotFound } from "../src/StateError.js"
import * as Store from "../src/Store.js"
import * as Timestamp from "../src/Timestamp.js"
import * as Workspace from "../src/Workspace.js"
import { exampleState as example } from "./fixtures/example-state.js"

const load = Effect.flatMap(Store.StateStore, (store) => store.load)

describe("Workspace", () => {
  it("make fills in Go's zero values and is written as Go writes a zero workspace", () => {
    const ws = Workspace.make({ name: "ws-001", repo: "r", path: "/w/r/ws-001" })
    expect(ws).toEqual({
      name: "ws-001",
      repo: "r",
      path: "/w/r/ws-001",
      status: "",
      createdAt: Timestamp.zero,
      updatedAt: Timestamp.zero,
      acquiredAt: Timestamp.zero,
      provisioned: false
    })
    const text = Schema.encode(Workspace.put(Schema.empty, ws))
    expect(text).toContain(`"r/ws-001": {\n      "name": "ws-001",\n      "repo": "r",\n      "path": "/w/r/ws-001",\n      "status": "",`)
    expect(Schema.decodeEither(text).pipe(Either.map((s) => s.workspaces["r/ws-001"]))).toEqual(Either.right(ws))
  })

  it("make throws a ParseError naming the field for a zero pid, an empty purpose or a cast timestamp", () => {
    const base = { name: "n", repo: "r", path: "/p" }
    expect(() => Workspace.make({ ...base, acquiredByPid: 0 })).toThrow(/acquiredByPid/)
    expect(() => Workspace.make({ ...base, purpose: "" })).toThrow(/purpose/)
    expect(() => Workspace.make({ ...base, acquiredAt: "now" as Timestamp.Timestamp })).toThrow(/acquiredAt/)
  })

  it("key, get and put use \"<repo>/<name>\"", () => {
    const ws = Workspace.make({ name: "ws-009", repo: "users-amonks-code-incrementum", path: "/p" })
    expect(Workspace.key(ws)).toBe("users-amonks-code-incrementum/ws-009")
    expect(Workspace.get(Workspace.put(example, ws), Workspace.key(ws))).toEqual(Option.some(ws))
    expect(Workspace.get(example, "ws-001")).toEqual(Option.none())
  })

  it.effect("update edits one workspace, stamping updatedAt; NotFound writes nothing", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 10, 30, 12))
      const key = "users-amonks-code-jj-tools/ws-001"
      const updated = yield* Workspace.update(key, (ws) => ({ ...ws, status: "available" }))
      expect([updated.status, updated.updatedAt]).toEqual(["available", "2026-11-30T12:00:00Z"])
      expect((yield* load).workspaces[key]).toEqual(updated)
      const before = yield* load
      const error = yield* Effect.flip(Workspace.update("jj-tools/ws-001", (ws) => ({ ...ws, status: "available" })))
      expect(error).toEqual(new NotFound({ kind: "workspace", key: "jj-tools/ws-001" }))
      expect(yield* load).toBe(before)
    }).pipe(Effect.provide(Store.layerMemory(example))))
})
