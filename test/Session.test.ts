import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "../src/Schema.js"
import * as Session from "../src/Session.js"
import { NotFound } from "../src/StateError.js"
import * as Store from "../src/Store.js"
import * as Timestamp from "../src/Timestamp.js"
import { exampleState as example } from "./fixtures/example-state.js"

const load = Effect.flatMap(Store.StateStore, (store) => store.load)

describe("Session", () => {
  it("make fills in Go's zero values; an exit code of 0 is kept", () => {
    const session = Session.make({ id: "ses_1", repo: "r" })
    expect(session).toEqual({
      id: "ses_1",
      repo: "r",
      status: "",
      createdAt: Timestamp.zero,
      startedAt: Timestamp.zero,
      updatedAt: Timestamp.zero,
      completedAt: Timestamp.zero
    })
    const done = Session.make({ id: "ses_2", repo: "r", status: "completed", exitCode: 0 })
    const text = Schema.encode(Session.put(Session.put(Schema.empty, session), done))
    expect(text).toContain(`"exit_code": 0`)
    expect(Schema.decodeEither(text).pipe(Either.map((s) => s.opencodeSessions))).toEqual(
      Either.right({ "r/ses_1": session, "r/ses_2": done })
    )
  })

  it("make throws a ParseError naming the field for a fractional exit code or a bad status", () => {
    expect(() => Session.make({ id: "s", repo: "r", exitCode: 1.5 })).toThrow(/exitCode/)
    expect(() => Session.make({ id: "s", repo: "r", status: "ok" as Schema.SessionStatus })).toThrow(/status/)
  })

  it("key and get use \"<repo>/<id>\"", () => {
    expect(Session.key({ repo: "users-amonks-code-website", id: "ses_k2v8n3c0r" })).toBe(
      "users-amonks-code-website/ses_k2v8n3c0r"
    )
    expect(Option.map(Session.get(example, "users-amonks-code-website/ses_k2v8n3c0r"), (s) => s.id)).toEqual(
      Option.some("ses_k2v8n3c0r")
    )
  })

  it.effect("update edits one session; NotFound for another key writes nothing", () =>
    Effect.gen(function*() {
      const key = "users-amonks-code-incrementum/ses_8f2k1m9qa"
      const updated = yield* Session.update(key, (s) => ({ ...s, status: "killed", exitCode: 137 }))
      expect((yield* load).opencodeSessions[key]).toEqual(updated)
      expect(updated.updatedAt).toBe("1970-01-01T00:00:00Z")
      const before = yield* load
      const error = yield* Effect.flip(Session.update("ses_8f2k1m9qa", (s) => s))
      expect(error).toEqual(new NotFound({ kind: "session", key: "ses_8f2k1m9qa" }))
      expect(yield* load).toBe(before)
    }).pipe(Effect.provide(Store.layerMemory(example))))
})
