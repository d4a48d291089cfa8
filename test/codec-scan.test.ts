import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import { needsTokens } from "../src/internal/codec.js"
import * as Schema from "../src/Schema.js"

/** The single expression the scan replaced: what it must answer, string for string. */
const reference = /":\s*-?\d+[.eE]|_at"\s*:\s*"[^"\\]*\\|\\u[dD][89a-fA-F]/

/** Pieces that make the three spellings, their near misses and the whitespace `\s` matches. */
const piece = FastCheck.constantFrom(
  "\"", "\\", ":", " ", "\n", "\t", "\u00a0", "\u2028", "_", "a", "t", "u", "d", "D", "8", "b", "F", "1", ".", "e", "-",
  "x", "_at\"", "\": ", "\\u", "\\ud8", "\\\\", "\\\"", "created_at\": \"", "\"exit_code\": "
)
const text = FastCheck.array(piece, { maxLength: 16 }).map((pieces) => pieces.join(""))

describe("the pre-scan for spellings JSON.parse hides", () => {
  it.prop("answers what the single regular expression answered", [text], ([s]) => {
    expect(needsTokens(s)).toBe(reference.test(s))
  }, { fastCheck: { numRuns: 20_000 } })

  it.prop("answers it after thousands of escapes too (where it switches to the expression)", [text], ([s]) => {
    const padded = "{\"m\": \"" + "x\\n".repeat(5000) + "\", " + s
    expect(needsTokens(padded)).toBe(reference.test(padded))
  }, { fastCheck: { numRuns: 300 } })

  it("sends each spelling to the token parser, which refuses it where Go does", () => {
    const job = (fields: string) =>
      `{"jobs": {"j": {"id": "j", "status": "active", ${fields}}}}`
    const refused = [
      `"created_at": "2026-01-01T00:00:00\\u005a"`,
      `"created_at" :"2026-01-0\\u0031T00:00:00Z"`
    ]
    for (const input of refused) {
      expect(needsTokens(job(input))).toBe(true)
      expect(Either.isLeft(Schema.decodeEither(job(input)))).toBe(true)
    }
    // An escape elsewhere, and a canonical timestamp, stay on the fast path and decode.
    const fine = job(`"feedback": "a\\nb \\u003c", "created_at": "2026-01-01T00:00:00Z"`)
    expect(needsTokens(fine)).toBe(false)
    expect(Either.getOrThrow(Schema.decodeEither(fine)).jobs["j"]?.feedback).toBe("a\nb <")
  })
})
