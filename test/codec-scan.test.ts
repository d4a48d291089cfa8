import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import { needsTokens } from "../src/internal/codec.js"
import * as Schema from "../src/Schema.js"

/** The escapes the single expression the scan replaced looked for: each must still be found. */
const escapes = /_at"\s*:\s*"[^"\\]*\\|\\u[dD][89a-fA-F]/

/** Pieces that make those escapes, their near misses and the whitespace `\s` matches. */
const piece = FastCheck.constantFrom(
  "\"", "\\", ":", " ", "\n", "\t", "\u00a0", "\u2028", "_", "a", "t", "u", "d", "D", "8", "b", "F", "{", ",", "x",
  "_at\"", "\": ", "\\u", "\\ud8", "\\\\", "\\\"", "created_at\": \""
)
const text = FastCheck.array(piece, { maxLength: 16 }).map((pieces) => pieces.join(""))

/** A session whose exit code is `value`, its key and number spelled as a hand-edited file might. */
const session = FastCheck.record({
  value: FastCheck.integer({ min: -99, max: 99 }),
  number: FastCheck.constantFrom("plain", "fraction", "exponent", "both"),
  key: FastCheck.constantFrom("\"exit_code\"", "\"exit\\u005fcode\"", "\"\\u0065xit_code\""),
  before: FastCheck.constantFrom("", " ", "\n\t"),
  after: FastCheck.constantFrom("", " ", "\r\n  "),
  // None, a few, or thousands (the scan switches to regular expressions past 4 096 dense escapes).
  escapes: FastCheck.constantFrom(0, 3, 6000)
})

const spell = (n: number, how: string) =>
  how === "plain" ? `${n}` : how === "fraction" ? `${n}.0` : how === "exponent" ? `${n}e0` : `${n}.00E+0`

describe("the pre-scan for spellings JSON.parse hides", () => {
  it.prop("finds every escape the single regular expression found", [text], ([s]) => {
    if (escapes.test(s)) expect(needsTokens(s)).toBe(true)
    const padded = "{\"m\": \"" + "x\\n".repeat(5000) + "\", " + s
    if (escapes.test(padded)) expect(needsTokens(padded)).toBe(true)
  }, { fastCheck: { numRuns: 20_000 } })

  it.prop(
    "an int written with a fraction or exponent is refused as Go refuses it, whatever the key's spelling or spacing",
    [session],
    ([s]) => {
      const message = "\\u003cm\\u003e".repeat(s.escapes)
      const doc = `{"opencode_sessions": {"s": {"id": "s", "log_path": "${message}", ${s.key}${s.before}:${s.after}${
        spell(s.value, s.number)
      }}}}`
      const decoded = Schema.decodeEither(doc)
      if (s.number === "plain") {
        expect(Either.getOrThrow(decoded).opencodeSessions["s"]?.exitCode).toBe(s.value === 0 ? 0 : s.value)
      } else {
        expect(Either.isLeft(decoded)).toBe(true)
        if (Either.isLeft(decoded)) expect(decoded.left.expected).toBe("an integer without fraction or exponent")
      }
    },
    { fastCheck: { numRuns: 400 } }
  )

  it("sends an escaped timestamp to the token parser; other escapes stay on the fast path", () => {
    const job = (fields: string) => `{"jobs": {"j": {"id": "j", "status": "active", ${fields}}}}`
    for (const input of [`"created_at": "2026-01-01T00:00:00\\u005a"`, `"created_at" :"2026-01-0\\u0031T00:00:00Z"`]) {
      expect(needsTokens(job(input))).toBe(true)
      expect(Either.isLeft(Schema.decodeEither(job(input)))).toBe(true)
    }
    const fine = job(`"feedback": "a\\nb \\u003c", "created_at": "2026-01-01T00:00:00Z"`)
    expect(needsTokens(fine)).toBe(false)
    expect(Either.getOrThrow(Schema.decodeEither(fine)).jobs["j"]?.feedback).toBe("a\nb <")
  })
})
