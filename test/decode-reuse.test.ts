/**
 * The reusing decode (`codec.decode(input, path, previous)`): whatever the
 * input, its result is exactly the full decode's; where a record's bytes
 * are ones known to decode to the record `previous` holds at that map and
 * key, the result holds that very object.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as codec from "../src/internal/codec.js"
import * as Schema from "../src/Schema.js"
import { generateStateText, jobId } from "../bench/generate.js"

const path = "/state.json"
const maps = ["repos", "workspaces", "opencodeSessions", "jobs"] as const
type Records = { readonly [key: string]: object }

const decodeOrThrow = (input: string | Uint8Array, previous?: Schema.State): Schema.State =>
  Either.getOrThrow(codec.decode(input, path, previous)).state

/** The decode with `previous` is the full decode: same state (prototypes and all), flag, encoding, or same error. */
const expectSameDecode = (bytes: Buffer, previous: Schema.State) => {
  const full = codec.decode(bytes, path)
  const reused = codec.decode(bytes, path, previous)
  if (Either.isLeft(full)) {
    expect(Either.isLeft(reused) ? { ...reused.left, message: reused.left.message } : reused.right)
      .toStrictEqual({ ...full.left, message: full.left.message })
    return
  }
  if (Either.isLeft(reused)) throw new Error(`the reusing decode failed: ${reused.left.message}`)
  expect(reused.right.state).toStrictEqual(full.right.state)
  expect(reused.right.hadLegacyPrompt).toBe(full.right.hadLegacyPrompt)
  expect(codec.encodeBytes(reused.right.state).equals(codec.encodeBytes(full.right.state))).toBe(true)
}

/** A small deterministic generator, so that one fast-check integer picks all of an edit's choices. */
const random = (seed: number) => {
  let a = seed >>> 0
  return (n: number): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return n <= 0 ? 0 : ((t ^ (t >>> 14)) >>> 0) % n
  }
}

/** `a` with records removed, changed (to `c`'s records) and added (from `c`), as chosen by `seed`. */
const edit = (a: Schema.State, c: Schema.State, seed: number): Schema.State => {
  const pick = random(seed)
  const out: Record<string, unknown> = { ...a }
  for (const name of maps) {
    const map: Record<string, object> = { ...(a[name] as Records) }
    const others = Object.values(c[name] as Records)
    for (const key of Object.keys(map)) {
      const roll = pick(4)
      if (roll === 0) delete map[key]
      else if (roll === 1 && others.length > 0) map[key] = others[pick(others.length)]!
    }
    for (const [key, value] of Object.entries(c[name] as Records)) if (pick(2) === 0) map[key] = value
    out[name] = map
  }
  if (pick(3) === 0) out.unknownFields = c.unknownFields
  return out as unknown as Schema.State
}

/** Where the entries of the top-level maps (and look-alikes) start and end in a text. */
const entries = (text: string): Array<{ readonly start: number; readonly end: number }> => {
  const out: Array<{ start: number; end: number }> = []
  for (let at = text.indexOf("\n    \""); at !== -1; at = text.indexOf("\n    \"", at + 1)) {
    const value = text.indexOf("\": ", at + 6)
    if (value === -1) break
    const end = text.startsWith("{}", value + 3) ? value + 5 : text.indexOf("\n    }", value) + 6
    if (end < value) break
    out.push({ start: at, end })
  }
  return out
}

/** Member texts put inside a record: token look-alikes, entry look-alikes, spellings JSON.parse hides, a legacy key. */
const hostileMembers = [
  "\"zz\": [1], ",
  "\"zz\": [ -0 ], ",
  "\"zz\": \"[2] \\n    \\\"x\\\": {\", ",
  "\"zz\": {\"a\": [0]}, ",
  "\"exit_code\": 1.0, ",
  "\"created_at\": \"2026-01-01T00:00:00\\u005a\", ",
  "\"zz\": \"\\ud800\", ",
  "\"prompt\": \"an old prompt\", "
]

/** Top-level members put first or last: a map's look-alike, a later duplicate of a map, a token look-alike. */
const hostileTop = (key: string) => [
  `\n  "extra": {\n    "${key}": {\n      "a": 1\n    }\n  }`,
  `\n  "extra": {\n    "${key}": [0]\n  }`,
  `\n  "jobs": {\n    "${key}": {}\n  }`,
  `\n  "opencode_sessions": {\n    "${key}": [0]\n  }`,
  `\n  "extra": "[3]"`,
  `\n  "extra": 1.5e3`,
  `\n  "extra": -0`,
  `\n  "extra": "a\\"b"`,
  `\n  "extra": tru`,
  `\n  "extra": "x" 1`,
  `\n  "extra": "\n"`,
  `\n  "extra": 01`
]

/** One text edit of a canonical file, its choices made by `seed`. */
const editText = (text: string, seed: number): string => {
  const pick = random(seed)
  const found = entries(text)
  const e = found[pick(found.length)]
  const kind = pick(12)
  if (e !== undefined && kind === 11) {
    // A token's look-alike at the place of that very token, the walk having stopped before it (a replaced map, or a
    // later duplicate key after an entry out of Go's layout): the full decode reads an array where a record belongs.
    const key = text.slice(e.start + 6, text.indexOf("\"", e.start + 6))
    const nameAt = text.lastIndexOf("\n  \"", e.start)
    const name = text.slice(nameAt + 4, text.indexOf("\"", nameAt + 4))
    const token = `"${key}": [${found.indexOf(e)}]`
    if (pick(2) === 0) return `${text.slice(0, text.lastIndexOf("\n}"))},\n  "${name}": {\n    ${token}\n  }\n}`
    const close = text.indexOf("\n  }", e.end)
    return `${text.slice(0, close)},\n     "zz": {},\n    ${token}${text.slice(close)}`
  }
  if (e === undefined || kind === 10) {
    const top = hostileTop(e === undefined ? "k" : text.slice(e.start + 6, text.indexOf("\"", e.start + 6)))
    const member = top[pick(top.length)]!
    return pick(2) === 0 ? `{${member},${text.slice(1)}` : `${text.slice(0, text.lastIndexOf("\n}"))},${member}\n}`
  }
  const body = text.slice(e.start, e.end)
  const valueAt = text.indexOf("\": ", e.start + 6) + 3
  switch (kind) {
    case 0: // A duplicate key: the same entry again (the second wins), or an empty record first.
      return pick(2) === 0
        ? text.slice(0, e.end) + "," + body + text.slice(e.end)
        : text.slice(0, valueAt) + "{}," + body + text.slice(valueAt + (e.end - valueAt))
    case 1: // Non-canonical indentation.
      return text.slice(0, e.start) + "\n     " + text.slice(e.start + 5)
    case 2: // A carriage return.
      return text.slice(0, e.start) + "\r" + text.slice(e.start)
    case 3: // A hostile member inside the record.
      return text.slice(0, valueAt + 1) + hostileMembers[pick(hostileMembers.length)]! + text.slice(valueAt + 1)
    case 4: { // A deleted byte.
      const at = e.start + pick(e.end - e.start)
      return text.slice(0, at) + text.slice(at + 1)
    }
    case 5: { // A byte of JSON syntax where it breaks, or a raw newline in a string.
      const at = valueAt + pick(e.end - valueAt)
      return text.slice(0, at) + ["{", "]", ",", "\"", "\n", "[0]"][pick(6)]! + text.slice(at)
    }
    case 6: { // Two entries swapped (out of order, or moved between maps).
      const next = found[found.indexOf(e) + 1]
      if (next === undefined || next.start < e.end) return text
      return text.slice(0, e.start) + text.slice(next.start, next.end) + text.slice(e.end, next.start) + body +
        text.slice(next.end)
    }
    case 7: { // The key spelled with an escape (the same key).
      const c = text.charCodeAt(e.start + 6)
      if (c >= 0x80 || c === 0x22 || c === 0x5c) return text
      return text.slice(0, e.start + 6) + "\\u" + c.toString(16).padStart(4, "0") + text.slice(e.start + 7)
    }
    case 8: // The file in one line (Go's layout lost).
      try {
        return JSON.stringify(JSON.parse(text))
      } catch {
        return text
      }
    default: // The record's value replaced by the value of another entry (a record in the wrong map, say).
    {
      const other = found[pick(found.length)]!
      const otherValue = text.indexOf("\": ", other.start + 6) + 3
      return text.slice(0, valueAt) + text.slice(otherValue, other.end) + text.slice(e.end)
    }
  }
}

/**
 * Generated states, most of their keys replaced by short plain ones
 * (generated keys are mostly ones Go writes with escapes, which send the
 * whole file to the full decode), so that two states share keys.
 */
const states = FastCheck.tuple(Arbitrary.make(Schema.State), FastCheck.integer()).map(([s, seed]) => {
  const pick = random(seed)
  const out: Record<string, unknown> = { ...s }
  for (const name of maps) {
    out[name] = Object.fromEntries(
      Object.entries(s[name] as Records).map(([key, value], i) => [pick(8) === 0 ? key : `k${i}`, value])
    )
  }
  return out as unknown as Schema.State
})
/** A canonical state as a process holds it: decoded, so that its records are checked objects. */
const held = (s: Schema.State) => decodeOrThrow(codec.encode(s))

/** The three kinds of previous state: records known by their encoding, by the bytes read, and by both. */
const previousStates = (a: Schema.State): Array<Schema.State> => {
  const bytes = Buffer.from(codec.encode(a))
  const encoded = held(a)
  codec.encodeBytes(encoded)
  const read = decodeOrThrow(bytes, codec.emptyState)
  const both = decodeOrThrow(Buffer.from(bytes), codec.emptyState)
  codec.encodeBytes(both)
  return [encoded, read, both]
}

describe("the decode with a previous state is the full decode", () => {
  it.prop(
    "for edited states and hostile edits of their bytes",
    [states, states, FastCheck.integer(), FastCheck.array(FastCheck.integer(), { maxLength: 2 })],
    ([a, c, seed, edits]) => {
      const before = held(a)
      const next = edit(before, held(c), seed)
      let text = codec.encode(next)
      for (const s of edits) text = editText(text, s)
      for (const previous of previousStates(before)) expectSameDecode(Buffer.from(text), previous)
      // Text input too.
      const full = codec.decode(text, path)
      const reused = codec.decode(text, path, previousStates(before)[1])
      expect(Either.isRight(reused) ? reused.right.state : reused.left.message)
        .toStrictEqual(Either.isRight(full) ? full.right.state : full.left.message)
    },
    { fastCheck: { numRuns: 300 } }
  )

  it.prop(
    "for a realistic file with one edit",
    [FastCheck.integer(), FastCheck.integer({ min: 0, max: 9 })],
    ([seed, job]) => {
      const text = generateStateText(10)
      const previous = decodeOrThrow(Buffer.from(text), codec.emptyState)
      const id = jobId(job)
      const at = text.indexOf(`\n    "${id}": `)
      const edited = at === -1 ? editText(text, seed) : editText(text.slice(0, at) + text.slice(at).replace(/"updated_at": "[^"]*"/, "\"updated_at\": \"2031-01-01T00:00:00Z\""), seed)
      expectSameDecode(Buffer.from(edited), previous)
    },
    { fastCheck: { numRuns: 300 } }
  )
})

describe("records whose bytes did not change are the previous objects", () => {
  it.prop("unchanged records are identical, changed ones are new", [states, states, FastCheck.integer()], ([a, c, seed]) => {
    for (const previous of previousStates(held(a))) {
      const next = held(edit(previous, held(c), seed))
      const text = codec.encode(next)
      const bytes = Buffer.from(text)
      const decoded = decodeOrThrow(bytes, previous)
      expect(decoded).toStrictEqual(decodeOrThrow(bytes))
      // A key Go writes with an escape (`&` is `\u0026`) sends the whole file to the full decode.
      if (codec.needsTokens(text)) continue
      for (const name of maps) {
        const before = previous[name] as Records
        for (const [key, record] of Object.entries(decoded[name] as Records)) {
          const old = before[key]
          const same = old !== undefined && codec.encode({ ...codec.emptyState, [name]: { [key]: old } }) ===
            codec.encode({ ...codec.emptyState, [name]: { [key]: record } })
          if (same) expect(record).toBe(old)
          else expect(record).not.toBe(old)
        }
      }
      // The records read now are known by their bytes at the next decode, even though this process never encoded them.
      const again = decodeOrThrow(Buffer.from(bytes), decoded)
      for (const name of maps) {
        for (const [key, record] of Object.entries(again[name] as Records)) expect(record).toBe((decoded[name] as Records)[key])
      }
    }
  }, { fastCheck: { numRuns: 200 } })

  it("a realistic file where one timestamp changed: every other record is reused", () => {
    const text = generateStateText(10)
    const previous = decodeOrThrow(Buffer.from(text), codec.emptyState)
    const at = text.indexOf(`\n    "${jobId(3)}": `)
    const edited = text.slice(0, at) + text.slice(at).replace(/"updated_at": "[^"]*"/, "\"updated_at\": \"2031-01-01T00:00:00Z\"")
    const decoded = decodeOrThrow(Buffer.from(edited), previous)
    expect(decoded.jobs[jobId(3)]?.updatedAt).toBe("2031-01-01T00:00:00Z")
    expect(decoded.jobs[jobId(3)]).not.toBe(previous.jobs[jobId(3)])
    // A map whose records are all the previous ones, in the same order, is the previous map.
    expect(decoded.opencodeSessions).toBe(previous.opencodeSessions)
    expect(decoded.jobs).not.toBe(previous.jobs)
    for (const name of maps) {
      for (const [key, record] of Object.entries(decoded[name] as Records)) {
        if (name !== "jobs" || key !== jobId(3)) expect(record).toBe((previous[name] as Records)[key])
      }
    }
  })

  it("members this version does not know, with scalar values, before and between the maps: the records are still reused", () => {
    const text = generateStateText(10)
    const previous = decodeOrThrow(Buffer.from(text), codec.emptyState)
    // As a newer writer would put them, sorted among the maps: before "jobs", and between "repos" and "workspaces".
    const edited = `{\n  "a_counter": 17,\n  "a_flag": true,\n  "a_name": "x",${text.slice(1)}`
      .replace(/\n  "workspaces": /, "\n  \"version\": null,\n  \"workspaces\": ")
    const decoded = decodeOrThrow(Buffer.from(edited), previous)
    expect(decoded).toStrictEqual(decodeOrThrow(Buffer.from(edited)))
    expect({ ...decoded.unknownFields }).toStrictEqual({ a_counter: 17, a_flag: true, a_name: "x", version: null })
    for (const name of maps) expect(decoded[name]).toBe(previous[name])
  })

  it("a record read with a legacy key is never reused: the flag is the full decode's", () => {
    const text = `{\n  "opencode_sessions": {\n    "s": {\n      "id": "s",\n      "prompt": "old"\n    }\n  }\n}\n`
    const first = Either.getOrThrow(codec.decode(Buffer.from(text), path, codec.emptyState))
    expect(first.hadLegacyPrompt).toBe(true)
    const second = Either.getOrThrow(codec.decode(Buffer.from(text), path, first.state))
    expect(second.hadLegacyPrompt).toBe(true)
    expect(second.state).toStrictEqual(first.state)
  })

  it("a record of another map's kind is not reused, though its bytes are the same", () => {
    const text = `{\n  "repos": {\n    "k": {}\n  },\n  "workspaces": {\n    "k": {}\n  }\n}\n`
    const first = decodeOrThrow(Buffer.from(text), codec.emptyState)
    const swapped = { ...first, repos: first.workspaces, workspaces: first.repos } as unknown as Schema.State
    const second = decodeOrThrow(Buffer.from(text), swapped)
    expect(second.repos["k"]).not.toBe(first.workspaces["k"])
    expect(second).toStrictEqual(decodeOrThrow(Buffer.from(text)))
  })
})

describe("what the reuse relies on", () => {
  it("a string input with an unpaired surrogate decodes as its UTF-8 bytes do (U+FFFD), so records read back as written", () => {
    const text = `{"repos": {"a": {"source_path": "x\ud800y"}}}`
    const state = decodeOrThrow(text)
    expect(state.repos["a"]?.sourcePath).toBe("x\ufffdy")
    expect(state).toStrictEqual(decodeOrThrow(Buffer.from(text)))
  })

  it("the encode cache gives a record only its own kind's bytes", () => {
    const text = generateStateText(10)
    const state = decodeOrThrow(text)
    codec.encodeBytes(state)
    // A checked job where a session belongs, encoded without the write check: written as a session, not from the cache.
    const job = state.jobs[jobId(0)]!
    const misplaced = { ...codec.emptyState, opencodeSessions: { s: job } } as unknown as Schema.State
    const copy = { ...codec.emptyState, opencodeSessions: { s: { ...job } } } as unknown as Schema.State
    expect(codec.encode(misplaced)).toBe(codec.encode(copy))
  })
})
