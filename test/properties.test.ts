import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Schema from "../src/Schema.js"
import { CorruptStateFile } from "../src/StateError.js"

describe("codec properties over generated states", () => {
  it.prop("decode(encode(s)) equals s", [Schema.State], ([state]) => {
    const text = Schema.encode(state)
    expect(Either.getOrThrow(Schema.decodeEither(text))).toEqual(state)
  }, { fastCheck: { numRuns: 200 } })

  it.prop("encoding is stable: encode(decode(encode(s))) === encode(s)", [Schema.State], ([state]) => {
    const text = Schema.encode(state)
    expect(Schema.encode(Either.getOrThrow(Schema.decodeEither(text)))).toBe(text)
  }, { fastCheck: { numRuns: 200 } })
})

describe("unicode keys and values", () => {
  const unicode = FastCheck.string({ unit: "binary", maxLength: 12 })
  it.prop("round-trip, and map keys are written in UTF-8 byte order", [FastCheck.dictionary(unicode, unicode)], ([paths]) => {
    const repos = Object.fromEntries(Object.entries(paths).map(([name, sourcePath]) => [name, { sourcePath }]))
    const state: Schema.State = { ...Schema.empty, repos }
    const text = Schema.encode(state)
    expect(Either.getOrThrow(Schema.decodeEither(text)).repos).toEqual(repos)
    const written = Object.keys(JSON.parse(text).repos).map((k) => Buffer.from(k, "utf8"))
    for (let i = 1; i < written.length; i++) expect(Buffer.compare(written[i - 1]!, written[i]!)).toBe(-1)
  }, { fastCheck: { numRuns: 300 } })
})

describe("decode never throws", () => {
  const realistic = fs.readFileSync(path.join(import.meta.dirname, "fixtures", "golden", "full_realistic.input.json"))

  it.prop("arbitrary text is a state or a CorruptStateFile", [FastCheck.string({ unit: "binary", maxLength: 200 })], ([text]) => {
    const result = Schema.decodeEither(text)
    if (Either.isLeft(result)) expect(result.left).toBeInstanceOf(CorruptStateFile)
  }, { fastCheck: { numRuns: 500 } })

  it.prop(
    "a realistic file with a corrupted byte is a state or a CorruptStateFile",
    [FastCheck.nat({ max: realistic.length - 1 }), FastCheck.integer({ min: 0, max: 255 })],
    ([offset, byte]) => {
      const bytes = Buffer.from(realistic)
      bytes[offset] = byte
      const result = Schema.decodeEither(bytes)
      if (Either.isLeft(result)) expect(result.left).toBeInstanceOf(CorruptStateFile)
      else expect(typeof Schema.encode(result.right)).toBe("string")
    },
    { fastCheck: { numRuns: 500 } }
  )

  it.prop("arbitrary JSON documents are a state or a CorruptStateFile", [FastCheck.jsonValue()], ([value]) => {
    const result = Schema.decodeEither(JSON.stringify({ jobs: { j: value } }))
    if (Either.isLeft(result)) expect(result.left).toBeInstanceOf(CorruptStateFile)
  }, { fastCheck: { numRuns: 500 } })
})
