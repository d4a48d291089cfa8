/**
 * The state codec: text ⇄ State, byte-compatible with the Go tool. The
 * records come from the tables in `format.ts`; this module handles the
 * document: parsing, the four top-level maps, the per-entry encode cache and
 * the write check.
 *
 * Decoding takes a fast path for ordinary files: `JSON.parse` (native) then
 * the records' decoders. A cheap scan of the text first looks for the few
 * spellings `JSON.parse` would hide (a number with a fraction or exponent
 * right after a key, an escape inside a timestamp, an escaped surrogate);
 * only then does the slower token-level parser in `json.ts` run. Syntax
 * errors are located with that parser too.
 */
import * as Either from "effect/Either"
import { isUtf8 } from "node:buffer"
import type * as Schema from "../Schema.js"
import { CorruptStateFile, InvalidState } from "../StateError.js"
import * as BytePool from "./bytePool.js"
import * as Format from "./format.js"
import * as Json from "./json.js"
import {
  checkNoOtherProperty,
  checkUnknownFields,
  type Dict,
  describe,
  entry,
  failAt,
  Failure,
  field,
  formatPath,
  indent,
  int,
  isObject,
  isPlainObject,
  jsonValue,
  type JsonValue,
  quote,
  type ReadContext,
  rethrow,
  writeJson
} from "./record.js"

export { quote } from "./record.js"

const emptyMap = <A>(): Record<string, A> => Object.create(null)

/**
 * The maps decode built and the check returned: frozen, their keys and
 * records already checked. A write that changed one job hands over the
 * other maps as they were (20 000 sessions in the 10 000-job bench state),
 * and walking them again was two thirds of the check. Frozen with no
 * prototype is not proof enough: a caller can make such a map of anything.
 */
const checkedMaps = new WeakMap<object, number>()
const trusted = <A extends object>(map: A, size: number): A => {
  checkedMaps.set(map, size)
  return map
}

/**
 * The number of keys of a map that decode built or the check returned
 * (known without a walk), or `undefined` for any other object.
 */
export const mapSize = (map: object): number | undefined => checkedMaps.get(map)

/** The state of an absent file. */
export const emptyState: Schema.State = Object.freeze({
  repos: Object.freeze(emptyMap()),
  workspaces: Object.freeze(emptyMap()),
  opencodeSessions: Object.freeze(emptyMap()),
  jobs: Object.freeze(emptyMap())
}) as Schema.State

const stateKeys: Record<string, (typeof Format.maps)[number]> = Object.create(null)
const stateNames: Record<string, true> = Object.create(null)
for (const map of Format.maps) {
  stateKeys[map.key] = map
  stateNames[map.name] = true
}

/** The JSON keys of the top level this version knows. */
export const stateKnownKeys: ReadonlyArray<string> = Format.maps.map((m) => m.key)

// ---------------------------------------------------------------------------
// Decoding

/** A decoded state, and whether the file held legacy session prompts (which it must lose). */
export interface Decoded {
  readonly state: Schema.State
  readonly hadLegacyPrompt: boolean
}

type MapFormat = (typeof Format.maps)[number]

/**
 * The top-level maps are at depth 2, their records at 3. With `spans`
 * (a reusing decode), a map member may be a span's token: its record is
 * the span's.
 */
const readMap = (v: unknown, map: MapFormat, ctx: ReadContext, spans: Spans | undefined): Record<string, unknown> => {
  // No prototype: keys like "__proto__" or "constructor" are plain data.
  const out = emptyMap<unknown>()
  let size = 0
  // With spans: the previous map, while this one has been the same keys in the same order with the same records.
  const before = spans?.previousMap(map)
  const beforeKeys = before === undefined ? undefined : Object.keys(before)
  let same = beforeKeys !== undefined
  if (v !== null && v !== undefined) {
    if (!isObject(v)) throw new Failure("an object", describe(v))
    const kind = map.record
    for (const key in v) {
      size++
      let value: object
      try {
        value = spans === undefined ? kind.read(v[key], v, key, ctx, 3) : spans.read(v[key], v, map, key, ctx)
      } catch (e) {
        return rethrow(e, entry(key))
      }
      out[key] = value
      if (same && (beforeKeys![size - 1] !== key || before![key] !== value)) same = false
    }
  }
  // Nothing changed in this map: the previous one is the result (and a write that compares maps skips it whole).
  if (same && size === beforeKeys!.length) return before!
  return trusted(Object.freeze(out), size)
}

const readState = (v: unknown, ctx: ReadContext, spans?: Spans): Schema.State => {
  if (v === null) return emptyState
  if (!isObject(v)) throw new Failure("an object", describe(v))
  const state: Dict = {}
  for (const map of Format.maps) state[map.name] = undefined
  let unknown: Record<string, JsonValue> | undefined
  for (const key in v) {
    const value = v[key]
    try {
      const map = stateKeys[key]
      if (map !== undefined) state[map.name] = readMap(value, map, ctx, spans)
      else {
        unknown ??= emptyMap()
        unknown[key] = jsonValue(value, 2, false)
      }
    } catch (e) {
      rethrow(e, field(key))
    }
  }
  for (const map of Format.maps) state[map.name] ??= emptyState[map.name]
  if (unknown !== undefined) state.unknownFields = Object.freeze(unknown)
  return Object.freeze(state) as unknown as Schema.State
}

/**
 * The keys of the tables' `int` fields: the only members whose number
 * spelling decode looks at (a fraction or exponent is refused there, as Go
 * refuses it, and is harmless anywhere else).
 */
const intKeys: ReadonlyArray<string> = [
  ...new Set(Format.records.flatMap((r) => Object.values(r.fields).filter((f) => f.kind === int).map((f) => f.key)))
]

const regExpText = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** An `int` field's value written with a fraction or exponent (`"exit_code" : 1e2`). */
const INT_WITH_FRACTION = new RegExp(`"(?:${intKeys.map(regExpText).join("|")})"\\s*:\\s*-?\\d+[.eE]`)

/** Any member's number written with a fraction or exponent, whatever its key's spelling. */
const NUMBER_WITH_FRACTION = /"\s*:\s*-?\d+[.eE]/

/** The escapes `needsTokens` looks for, as one regular expression (without escaped keys, which it implies). */
const TIMESTAMP_ESCAPE_OR_SURROGATE = /_at"\s*:\s*"[^"\\]*\\|\\u[dD][89a-fA-F]/

/** What the regular expression `\s` matches (a superset of JSON's whitespace). */
const isSpace = (c: number): boolean =>
  c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
  c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff

/** The position of the last character before `at` that `\s` does not match (-1 if none). */
const skipSpaceBack = (text: string, at: number): number => {
  let i = at - 1
  while (i >= 0 && isSpace(text.charCodeAt(i))) i--
  return i
}

/** Whether the text just before `quote` is `_at"\s*:\s*`: the string opening there is a timestamp key's value. */
const followsTimestampKey = (text: string, quote: number): boolean => {
  let i = skipSpaceBack(text, quote)
  if (text.charCodeAt(i) !== 0x3a) return false
  i = skipSpaceBack(text, i)
  return i >= 3 && text.charCodeAt(i) === 0x22 && text.charCodeAt(i - 1) === 0x74 && text.charCodeAt(i - 2) === 0x61 &&
    text.charCodeAt(i - 3) === 0x5f
}

/** Whether the string opening at `quote` follows `{` or `,`: a key (or an array's later item). */
const opensKey = (text: string, quote: number): boolean => {
  const c = text.charCodeAt(skipSpaceBack(text, quote))
  return c === 0x7b || c === 0x2c
}

/**
 * Whether the text has a spelling `JSON.parse` would hide: an `int`
 * field's number with a fraction or exponent, an escape inside a `*_at`
 * string (`_at"\s*:\s*"[^"\\]*\\`), an escaped surrogate
 * (`\\u[dD][89a-fA-F]`). Then the token parser reads the file. A hit that
 * turns out harmless (inside a string, say) only costs that slower parser.
 *
 * One regular expression for all of it cost twice as much: its scan stops
 * at every `"`. Here only the `int` fields' keys are searched for, and the
 * escapes are found where `indexOf` (native) finds a backslash; each is
 * looked at where it is, and for the first escape of a string, the string's
 * opening quote (searched for only when there is one after the previous
 * backslash, so the scan stays linear however many escapes a string has):
 * a timestamp's value, or a key, which may be an `int` field's key spelled
 * with escapes, are sent to the token parser.
 */
export const needsTokens = (text: string): boolean => {
  if (INT_WITH_FRACTION.test(text)) return true
  let previous = -1
  // The first quote after the previous backslash, found once per stretch between quotes.
  let nextQuote = -1
  let count = 0
  for (let i = text.indexOf("\\"); i !== -1; previous = i, i = text.indexOf("\\", i + 1)) {
    // Escapes denser than one per 64 characters (a long multi-line message): per character, the regular expressions are cheaper.
    if (++count > 4096 && count * 64 > i) return NUMBER_WITH_FRACTION.test(text) || TIMESTAMP_ESCAPE_OR_SURROGATE.test(text)
    if (text.charCodeAt(i + 1) === 0x75) {
      const c2 = text.charCodeAt(i + 2)
      const c3 = text.charCodeAt(i + 3) | 0x20 // lower case, for the letters
      if ((c2 === 0x64 || c2 === 0x44) && (c3 === 0x38 || c3 === 0x39 || (c3 >= 0x61 && c3 <= 0x66))) return true
    }
    if (nextQuote <= previous) {
      nextQuote = text.indexOf("\"", previous + 1)
      if (nextQuote === -1) nextQuote = text.length
    }
    if (nextQuote < i) {
      // A quote between the previous backslash and this one: this is the first escape of the string opening there.
      const quote = text.lastIndexOf("\"", i - 1)
      if (followsTimestampKey(text, quote) || opensKey(text, quote)) return true
    }
  }
  return false
}

type Corruption = Omit<ConstructorParameters<typeof CorruptStateFile>[0], "path">

/**
 * Parses the text into JSON values, or describes the syntax error. A
 * function of its own so that the text (as large as the file) is garbage
 * once it returns, while the values are decoded.
 */
const parseJson = (input: string | Uint8Array): { readonly parsed: unknown; readonly marks: Json.Spellings | undefined } | Corruption => {
  if (typeof input !== "string" && input.byteLength > maxFileBytes) {
    return { jsonPath: "$", expected: `a file of at most ${maxFileBytes} bytes`, found: `${input.byteLength} bytes` }
  }
  // Not Latin-1 for ASCII, though it converts at a third of the cost: Node
  // makes a large one an external string, and at 73 MB JSON.parse and the
  // collector then cost more than the conversion saved.
  const text = typeof input === "string"
    ? input
    : isUtf8(input)
    ? Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString("utf8")
    : Json.decodeUtf8LikeGo(input)
  try {
    // Text with an unpaired surrogate (only a string input can have one) is read as Go reads its UTF-8, each one
    // U+FFFD, by the token parser: `JSON.parse` would keep it, and records must read back as they are written.
    if (needsTokens(text) || (typeof input === "string" && !text.isWellFormed())) {
      const marks: Json.Spellings = new WeakMap()
      return { parsed: Json.parse(text, marks), marks }
    }
    return { parsed: JSON.parse(text), marks: undefined }
  } catch (e) {
    // Locate the error with the token-level parser; V8's message has no reliable position.
    let located: unknown = e
    if (!(e instanceof Json.JsonSyntaxError)) {
      try {
        Json.parse(text)
      } catch (e2) {
        located = e2
      }
    }
    return located instanceof Json.JsonSyntaxError
      ? { jsonPath: "$", expected: located.expected, found: located.found, line: located.line, column: located.column }
      : { jsonPath: "$", expected: "valid JSON", found: String(e) }
  }
}

/** Decodes `text` or `bytes` as today's full decode does: one parse of the whole text. */
const decodeFully = (input: string | Uint8Array, path: string | undefined): Either.Either<Decoded, CorruptStateFile> => {
  const corrupt = (fields: Corruption) =>
    Either.left(new CorruptStateFile(path === undefined ? fields : { path, ...fields }))
  const json = parseJson(input)
  if ("jsonPath" in json) return corrupt(json)
  const ctx: ReadContext = { spellings: json.marks, hadLegacyKey: false }
  try {
    const state = readState(json.parsed, ctx)
    return Either.right({ state, hadLegacyPrompt: ctx.hadLegacyKey })
  } catch (e) {
    if (e instanceof Failure) return corrupt({ jsonPath: formatPath(e.path), expected: e.expected, found: e.found })
    if (e instanceof RangeError) return corrupt({ jsonPath: "$", expected: "less deeply nested JSON", found: e.message })
    throw e
  }
}

/**
 * Decodes the file's text or bytes. The result is `Left` for every invalid
 * input; no input makes this throw. Reentrant: each call has its own
 * context.
 *
 * With `previous` (the state this process last held for the file), the
 * result is exactly the one without it, but each record whose bytes are
 * ones known to decode to the record `previous` holds at the same map and
 * key (the bytes it was decoded from, or its encoding) is that very
 * object: nothing is parsed or built for it, and encode finds it in its
 * cache. The records decoded then remember the bytes they came from, as
 * views into `input`, so a caller that passes `previous` must never change
 * those bytes afterwards (the store never does: they are its snapshot); it
 * may hand them back to `BytePool`, after which they are no longer known.
 */
export const decode = (
  input: string | Uint8Array,
  path: string | undefined,
  previous?: Schema.State
): Either.Either<Decoded, CorruptStateFile> => {
  if (previous !== undefined) {
    const reused = decodeReusing(input, previous)
    if (reused !== undefined) return Either.right(reused)
  }
  return decodeFully(input, path)
}

// ---------------------------------------------------------------------------
// The reusing decode
//
// Go's layout (what Go and this store write) puts each record of a
// top-level map on lines of its own: `\n    "key": {` ... `\n    }` (or
// `{}`), the maps' members on `\n  "name": {` ... `\n  }`. A walk over the
// bytes follows that layout from the first byte for as long as every byte
// is exactly as expected, and cuts each record's value (its span) out of
// the text, leaving a token `[i]` in its place: the skeleton. Where the
// layout differs, the walk stops and the rest of the input is the
// skeleton's tail, unread by the walk. Why the skeleton, its spans
// substituted back, reads exactly as the input does:
//
// - The walk knows every byte before the tail: braces, whitespace, keys
//   without a backslash (a key ends at the next quote), and the spans, each
//   a complete JSON value (bytes known to decode to a record, or text that
//   `JSON.parse` took whole). So each token stands where a value of that
//   member of that map is expected, as its span stood in the input, and the
//   skeleton parses if and only if the input does.
// - A top-level member this version does not know, whose value is a number,
//   a literal or a string without a backslash, is copied as it is: outside
//   a string no bracket, brace, quote or comma is in it, and a string ends
//   at its next quote, so it holds no token and hides no structure; a value
//   that is not JSON makes the skeleton's parse fail, as the input's would.
// - The tail may hold anything, a later duplicate of a map or of a member
//   among it. Members are resolved after the parse, last one wins, as in
//   `JSON.parse`. A parsed member is taken for a token only when it is an
//   array whose first item is a number: the tail must hold no `[`
//   (whitespace, then a digit or `-`) or the walk's result is not used, so
//   such an array came from a token, and its index says which.
// - A record's read depends on its value and on the spellings `JSON.parse`
//   hides (an int with a fraction, an escaped timestamp, an escaped
//   surrogate, each within one member). Those must be absent: the skeleton
//   and each new span pass `needsTokens`, and a known span is bytes that
//   were read without them (decoded when `needsTokens` found none, or Go's
//   canonical encoding, which has none).
// - A known span is reused only for a checked record of that map's kind
//   (its prototype), and its bytes are either the ones it was read from
//   (the kind's read, no legacy key: nothing the flag would miss) or the
//   encoding that kind wrote for it, which decodes back to it.
// - Anything unexpected (a syntax error, a failed read, a token out of
//   place) gives up, and the caller decodes in full, so that errors are
//   exactly the full decode's.

/**
 * The bytes each record was last read from, a view into the input of that
 * decode (which the store keeps as its snapshot anyway). Set only by a
 * reusing decode, whose caller promised not to change them (handing them
 * back to `BytePool` empties the views, and `holds` takes an empty one as
 * no bytes known).
 */
const sourceBytes = new WeakMap<object, Buffer>()

const readContextWithout = (): ReadContext => ({ spellings: undefined, hadLegacyKey: false })

/** Each map's record prototype: a record of that kind (checked or decoded) has it. */
const recordPrototype = new Map<MapFormat, object | null>(
  Format.maps.map((map) => [map, Object.getPrototypeOf(map.record.read({}, {}, "", readContextWithout(), 3))])
)

/** Whether `v` is a frozen record of this map's kind. */
const isRecordOf = (v: unknown, map: MapFormat): v is object =>
  typeof v === "object" && v !== null && Object.getPrototypeOf(v) === recordPrototype.get(map) && Object.isFrozen(v)

/** One record value cut out of the input. */
interface Span {
  readonly map: MapFormat
  readonly key: string
  readonly start: number
  readonly end: number
  /** The previous record these bytes decode to, or undefined when the span is new. */
  readonly reused: object | undefined
  /** For a new span: its `JSON.parse` value. */
  parsed: unknown
}

/** Gives up the reusing decode (the caller decodes in full). */
class GiveUp {}

/** The spans of one reusing decode, and the reading of their tokens. */
class Spans {
  constructor(readonly bytes: Buffer, readonly list: ReadonlyArray<Span>, readonly previous: Schema.State) {}

  /** The previous state's map, if decode or the write check made it (frozen, its keys and records checked). */
  previousMap(map: MapFormat): Record<string, unknown> | undefined {
    const before = this.previous[map.name]
    return mapSize(before) === undefined ? undefined : before
  }

  /** The record for the value at `owner[key]` of `map`: a token's span's, or the value read. */
  read(v: unknown, owner: Dict, map: MapFormat, key: string, ctx: ReadContext): object {
    if (!Array.isArray(v) || typeof v[0] !== "number") return map.record.read(v, owner, key, ctx, 3)
    const span = this.list[v[0]]
    if (v.length !== 1 || span === undefined || span.map !== map || span.key !== key) throw new GiveUp()
    const view = this.bytes.subarray(span.start, span.end)
    if (span.reused !== undefined) {
      // The view into the newest input: older inputs are not kept alive by records that outlive them.
      if (sourceBytes.get(span.reused)?.buffer !== view.buffer) sourceBytes.set(span.reused, view)
      return span.reused
    }
    const hadLegacyKey = ctx.hadLegacyKey
    ctx.hadLegacyKey = false
    const record = map.record.read(span.parsed, owner, key, ctx, 3)
    if (!ctx.hadLegacyKey) sourceBytes.set(record, view)
    ctx.hadLegacyKey ||= hadLegacyKey
    return record
  }
}

const NL = 0x0a
const SPACE = 0x20
const QUOTE = 0x22
const COMMA = 0x2c
const COLON = 0x3a
const BACKSLASH = 0x5c
const OPEN = 0x7b
const CLOSE = 0x7d
const recordEnd = Buffer.from("\n    }")

/** Whether `b` holds, at `at`, a newline, `spaces` spaces and `c`. */
const lineAt = (b: Buffer, at: number, spaces: number, c: number): boolean => {
  if (b[at] !== NL) return false
  for (let k = 1; k <= spaces; k++) if (b[at + k] !== SPACE) return false
  return b[at + spaces + 1] === c
}

/** The key whose opening quote is at `at`, when it has no backslash and `": ` follows it; `keyEnd` is then where its value starts. */
let keyEnd = 0
const keyAt = (b: Buffer, at: number): string | undefined => {
  const close = b.indexOf(QUOTE, at + 1)
  if (close === -1 || b[close + 1] !== COLON || b[close + 2] !== SPACE) return undefined
  for (let k = at + 1; k < close; k++) if (b[k] === BACKSLASH) return undefined
  keyEnd = close + 3
  return b.toString("utf8", at + 1, close)
}

/**
 * Where a scalar value starting at `at` ends: a string with no backslash
 * (it ends at the next quote), or a run of the bytes a number or a literal
 * (true, false, null) is made of. What it holds is not checked: the
 * skeleton is parsed, and a value that is not JSON fails that parse, which
 * gives up the reusing decode.
 */
const scalarEnd = (b: Buffer, at: number): number | undefined => {
  if (b[at] === QUOTE) {
    const close = b.indexOf(QUOTE, at + 1)
    if (close === -1) return undefined
    for (let k = at + 1; k < close; k++) if (b[k] === BACKSLASH) return undefined
    return close + 1
  }
  let end = at
  while (end < b.length && isScalarByte(b[end]!)) end++
  return end === at ? undefined : end
}

/** `-`, `+`, `.`, a digit or an ASCII letter. */
const isScalarByte = (c: number): boolean =>
  c === 0x2d || c === 0x2b || c === 0x2e || (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a)

/** Whether `b` holds `known` at `at`; an empty `known` is a view into memory handed back to `BytePool`, which says nothing. */
const holds = (b: Buffer, at: number, known: Buffer | undefined): known is Buffer =>
  known !== undefined && known.length > 0 && at + known.length <= b.length &&
  b.compare(known, 0, known.length, at, at + known.length) === 0

/** The record `previous` holds at `key` of `map` if it is one of that kind whose bytes are at `at` of `b`. */
const knownAt = (b: Buffer, at: number, previous: Schema.State, map: MapFormat, key: string): Buffer | undefined => {
  const record: unknown = (previous[map.name] as Dict)[key]
  if (!isRecordOf(record, map)) return undefined
  const source = sourceBytes.get(record)
  if (holds(b, at, source)) return source
  const encoded = cachedEntry(record)
  return holds(b, at, encoded) ? encoded : undefined
}

/** A `[` followed by JSON whitespace and a digit or `-`: what could read as a token. */
const TOKEN_LIKE = /\[[ \t\n\r]*[-0-9]/

/** A map's name as a JSON string (spelled without escapes). */
const MAP_NAME = new RegExp(`"(?:${Format.maps.map((m) => regExpText(m.key)).join("|")})"`)

/**
 * Whether no array of the tail can be taken for a token: the tail has
 * none that could read as one, or (when the walk stopped between
 * top-level members, so every map it walked is whole) no member that
 * could replace a walked map: no map's name, no escape that could spell
 * one.
 */
const tailIsSafe = (tail: string, betweenMembers: boolean): boolean =>
  !TOKEN_LIKE.test(tail) || (betweenMembers && !tail.includes("\\") && !MAP_NAME.test(tail))

/**
 * Walks the input in Go's layout, cutting out its records' spans (see
 * above). Returns the skeleton, or undefined when nothing was cut or the
 * tail could hold a token.
 */
const cut = (b: Buffer, previous: Schema.State): { readonly skeleton: string; readonly spans: Array<Span> } | undefined => {
  const spans: Array<Span> = []
  if (b[0] !== OPEN) return undefined
  let skeleton = "{"
  let at = 1
  // Whether the walk stopped between top-level members rather than inside a map.
  let betweenMembers = true
  walk: for (;;) {
    // At a top-level member's line.
    if (!lineAt(b, at, 2, QUOTE)) break
    const name = keyAt(b, at + 3)
    if (name === undefined) break
    const map = stateKeys[name]
    if (map === undefined) {
      // A member this version does not know (a newer writer's, say) whose value is a number, a literal or a string
      // without escapes: copied into the skeleton as it is, so the records after it are still cut out.
      const end = scalarEnd(b, keyEnd)
      if (end === undefined) break
      skeleton += b.toString("utf8", at, end)
      at = end
      if (b[at] !== COMMA) break
      skeleton += ","
      at++
      continue
    }
    if (b[keyEnd] !== OPEN) break
    skeleton += `\n  "${name}": {`
    at = keyEnd + 1
    betweenMembers = false
    if (b[at] === CLOSE) {
      skeleton += "}"
      at++
    } else {
      for (;;) {
        // At a record's line.
        if (!lineAt(b, at, 4, QUOTE)) break walk
        const key = keyAt(b, at + 5)
        const start = keyEnd
        if (key === undefined || b[start] !== OPEN) break walk
        const known = knownAt(b, start, previous, map, key)
        let end: number
        if (known !== undefined) end = start + known.length
        else if (b[start + 1] === CLOSE) end = start + 2
        else {
          const close = b.indexOf(recordEnd, start)
          if (close === -1) break walk
          end = close + recordEnd.length
        }
        skeleton += `\n    "${key}": [${spans.length}]`
        spans.push({ map, key, start, end, reused: known === undefined ? undefined : previous[map.name][key], parsed: undefined })
        at = end
        if (b[at] === COMMA && lineAt(b, at + 1, 4, QUOTE)) {
          skeleton += ","
          at++
        } else if (lineAt(b, at, 2, CLOSE)) {
          skeleton += "\n  }"
          at += 4
          break
        } else break walk
      }
    }
    betweenMembers = true
    if (b[at] !== COMMA) break
    skeleton += ","
    at++
  }
  if (spans.length === 0) return undefined
  const tail = b.toString("utf8", at)
  if (!tailIsSafe(tail, betweenMembers)) return undefined
  return { skeleton: skeleton + tail, spans }
}

/** The reusing decode, or undefined where it gives up (see above). */
const decodeReusing = (input: string | Uint8Array, previous: Schema.State): Decoded | undefined => {
  let bytes: Buffer
  if (typeof input === "string") {
    if (!input.isWellFormed()) return undefined
    bytes = Buffer.from(input, "utf8")
  } else {
    if (input.byteLength > maxFileBytes || !isUtf8(input)) return undefined
    bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength)
  }
  try {
    const cutOut = cut(bytes, previous)
    if (cutOut === undefined || needsTokens(cutOut.skeleton)) return undefined
    for (const span of cutOut.spans) {
      if (span.reused !== undefined) continue
      const text = bytes.toString("utf8", span.start, span.end)
      if (needsTokens(text)) return undefined
      span.parsed = JSON.parse(text)
    }
    const ctx = readContextWithout()
    const state = readState(JSON.parse(cutOut.skeleton), ctx, new Spans(bytes, cutOut.spans, previous))
    return { state, hadLegacyPrompt: ctx.hadLegacyKey }
  } catch {
    // A syntax error, a failed read, a token out of place: the full decode says what is wrong, or reads what the walk misread.
    return undefined
  }
}

// ---------------------------------------------------------------------------
// Encoding

/**
 * Orders keys by their UTF-8 bytes, as Go sorts map keys. That is code
 * point order, which differs from JavaScript's UTF-16 order only between
 * astral characters (surrogate pairs) and U+E000-U+FFFF.
 */
const compareUtf8 = (a: string, b: string): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i)
    let y = b.charCodeAt(i)
    if (x === y) continue
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000
    }
    return x - y
  }
  return a.length - b.length
}

const sortedKeys = (map: object): Array<string> => {
  const keys = Object.keys(map)
  // Maps built by decode, or by spreading one, already list their keys in
  // order (bar integer-like keys, which JavaScript puts first): check in
  // one pass before paying for a sort.
  for (let i = 1; i < keys.length; i++) {
    if (compareUtf8(keys[i - 1]!, keys[i]!) >= 0) return keys.sort(compareUtf8)
  }
  return keys
}

/**
 * The largest file decode reads: V8's longest string, in UTF-8 bytes (a
 * character takes at least one byte). A larger file is refused at read
 * (`CorruptStateFile`), and a state whose encoding would be larger is
 * refused at write (`InvalidState`).
 */
export const maxFileBytes = 0x1fffffe8

/**
 * The UTF-8 bytes of each map entry already encoded, keyed by the record
 * object. Only frozen records of the map's own kind are cached (those decode
 * or the write check returned), so a record mutated in place can never be
 * written stale, and cached bytes are that kind's encoding (which the
 * reusing decode relies on).
 * An update that replaces one job re-encodes only that job, and the
 * document is assembled with one copy per entry. (Concatenating cached
 * strings instead builds a rope that costs more to flatten than the whole
 * encode.) After each encode the cached bytes are views into the output,
 * so the cache costs no memory beyond the output the store keeps anyway.
 * The output may be handed back to `BytePool` once written, which empties
 * those views: `cachedEntry` takes an empty one as no entry.
 */
const entryBytes = new WeakMap<object, Buffer>()

/** A record's cached encoding, unless there is none or its memory was handed back (an encoding is never empty). */
const cachedEntry = (record: object): Buffer | undefined => {
  const bytes = entryBytes.get(record)
  return bytes === undefined || bytes.length === 0 ? undefined : bytes
}

/** Collects the output as text and cached byte chunks, then copies them once into one buffer. */
class Chunks {
  readonly parts: Array<string | Buffer> = []
  readonly owners: Array<object | undefined> = []
  pending = ""
  size = 0
  text(s: string): void {
    this.pending += s
  }
  entry(owner: object | undefined, b: Buffer): void {
    this.flush()
    this.parts.push(b)
    this.owners.push(owner)
    this.size += b.length
    if (this.size > maxFileBytes) {
      throw new Failure(`an encoding of at most ${maxFileBytes} bytes (what decode can read)`, "a larger state")
    }
  }
  private flush(): void {
    if (this.pending === "") return
    this.parts.push(this.pending)
    this.owners.push(undefined)
    this.size += Buffer.byteLength(this.pending, "utf8")
    this.pending = ""
  }
  done(): Buffer {
    this.flush()
    if (this.size > maxFileBytes) {
      throw new Failure(`an encoding of at most ${maxFileBytes} bytes (what decode can read)`, "a larger state")
    }
    // Recycled memory: the file store hands each output back once a newer one is written (see `BytePool`).
    const out = BytePool.take(this.size)
    let offset = 0
    for (let i = 0; i < this.parts.length; i++) {
      const part = this.parts[i]!
      const start = offset
      offset += typeof part === "string" ? out.write(part, offset, "utf8") : part.copy(out, offset)
      const owner = this.owners[i]
      if (owner !== undefined) entryBytes.set(owner, out.subarray(start, offset))
    }
    return out
  }
}

const writeMap = (out: Chunks, map: { readonly [key: string]: object }, format: MapFormat) => {
  const kind = format.record
  const keys = sortedKeys(map)
  if (keys.length === 0) return out.text("{}")
  const d = indent(2)
  out.text("{")
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    const value = map[key]!
    // Only a record of this map's kind is cached, so that cached bytes are always its own kind's encoding.
    const own = isRecordOf(value, format)
    let bytes = own ? cachedEntry(value) : undefined
    out.text((i === 0 ? d : "," + d) + quote(key) + ": ")
    if (bytes === undefined) {
      try {
        bytes = Buffer.from(kind.write(value as never, 2), "utf8")
      } catch (e) {
        // A record longer than V8's longest string cannot be written, nor read back.
        if (e instanceof RangeError) failAt(entry(key), "a record whose encoding fits in a string", "a larger record")
        throw e
      }
      out.entry(own ? value : undefined, bytes)
    } else {
      out.entry(value, bytes)
    }
  }
  out.text(indent(1) + "}")
}

const encodeChunks = (state: Schema.State): Buffer => {
  const d = indent(1)
  const out = new Chunks()
  out.text("{")
  for (let i = 0; i < Format.maps.length; i++) {
    const map = Format.maps[i]!
    out.text((i === 0 ? d : "," + d) + quote(map.key) + ": ")
    try {
      writeMap(out, state[map.name], map)
    } catch (e) {
      rethrow(e, field(map.key))
    }
  }
  const unknown = state.unknownFields
  if (unknown !== undefined) {
    for (const key of Object.keys(unknown)) out.text("," + d + quote(key) + ": " + writeJson(unknown[key]!, 1))
  }
  out.text(indent(0) + "}")
  return out.done()
}

/** Encodes a state as the Go tool's bytes, UTF-8 (see `Schema.encode`). The state is trusted. */
export const encodeBytes = (state: Schema.State): Buffer => encodeChunks(state)

/** A checked (frozen) record's encoding as a map entry, from the cache or made and cached. */
const recordBytes = (record: object, map: MapFormat): Buffer => {
  const own = isRecordOf(record, map)
  let bytes = own ? cachedEntry(record) : undefined
  if (bytes === undefined) {
    bytes = Buffer.from(map.record.write(record as never, 2), "utf8")
    if (own) entryBytes.set(record, bytes)
  }
  return bytes
}

/**
 * Whether two checked states encode to the same bytes, without encoding
 * either whole: records that are the same objects are skipped, the others
 * compared by their entry encodings. What a store that keeps no whole
 * encoding (a database of records) compares to skip a write that would
 * change nothing.
 */
export const sameEncoding = (a: Schema.State, b: Schema.State): boolean => {
  for (const map of Format.maps) {
    const x: { readonly [key: string]: object } = a[map.name]
    const y: { readonly [key: string]: object } = b[map.name]
    if (x === y) continue
    let count = 0
    for (const key in y) {
      count++
      const before = x[key]
      const after = y[key]!
      if (before === after) continue
      if (before === undefined || !recordBytes(before, map).equals(recordBytes(after, map))) return false
    }
    const size = mapSize(x)
    if (size === undefined) for (const _ in x) count--
    else count -= size
    if (count !== 0) return false
  }
  if (a.unknownFields === b.unknownFields) return true
  const top = (state: Schema.State) => state.unknownFields === undefined ? "" : writeJson(state.unknownFields, 0)
  return top(a) === top(b)
}

/** Encodes a state as the Go tool's text (see `Schema.encode`). */
export const encode = (state: Schema.State): string => encodeBytes(state).toString("utf8")

// ---------------------------------------------------------------------------
// The write check

/** One entry of a map as the check returns it (the record normalised and frozen), or a `Failure` located at the entry. */
const checkEntry = (key: string, value: unknown, kind: MapFormat["record"]): unknown => {
  try {
    if (!key.isWellFormed()) throw new Failure("a key of well-formed Unicode text", "a key with an unpaired surrogate")
    return kind.check(value as never, 3)
  } catch (e) {
    return rethrow(e, entry(key))
  }
}

const checkMap = (v: unknown, kind: (typeof Format.maps)[number]["record"]): Record<string, unknown> => {
  if (typeof v === "object" && v !== null && checkedMaps.has(v)) return v as Record<string, unknown>
  if (!isPlainObject(v)) throw new Failure("an object (a map of records)", describe(v))
  // Only maps the check built or decode returned are frozen with no prototype.
  let out: Record<string, unknown> | undefined = Object.getPrototypeOf(v) === null && Object.isFrozen(v)
    ? undefined
    : emptyMap()
  let size = 0
  for (const key in v) {
    size++
    const value = v[key]
    const next = checkEntry(key, value, kind)
    if (out === undefined && next !== value) {
      out = emptyMap()
      for (const k in v) {
        if (k === key) break
        out[k] = v[k]
      }
    }
    if (out !== undefined) out[key] = next
  }
  return trusted(out === undefined ? v : Object.freeze(out), size)
}

/**
 * The state as a reader of the file will see it, or a `Failure`. Records
 * already checked (or decoded) are not looked at again.
 */
const checkState = (v: unknown): Schema.State => {
  if (!isPlainObject(v)) throw new Failure("a State object", describe(v))
  let changed = false
  const out: Dict = {}
  for (const map of Format.maps) {
    const value = v[map.name]
    let next: unknown
    try {
      next = checkMap(value, map.record)
    } catch (e) {
      return rethrow(e, field(map.key))
    }
    if (next !== value) changed = true
    out[map.name] = next
  }
  if (checkUnknownFields(v, out, 1, (key) => stateKeys[key] !== undefined)) changed = true
  checkNoOtherProperty(v, "State", (name) => stateNames[name] !== undefined)
  const result = changed ? out : v
  return Object.freeze(result) as unknown as Schema.State
}

/** A state ready to be written: the state as a reader of `bytes` will decode it, and those bytes. */
export interface Prepared {
  readonly state: Schema.State
  readonly bytes: Buffer
}

const invalid = (e: unknown): Either.Either<never, InvalidState> => {
  if (e instanceof Failure) {
    return Either.left(new InvalidState({ jsonPath: formatPath(e.path), expected: e.expected, found: e.found }))
  }
  if (e instanceof RangeError) {
    // A cycle through the maps or records, or a string too long to build.
    return Either.left(new InvalidState({ jsonPath: "$", expected: "a finite, acyclic state", found: e.message }))
  }
  throw e
}

/**
 * Checks a state a caller wants written against the rules decode applies
 * (and Go's reader needs), returning it as a reader of the file will see
 * it: normalised where the file holds a value in only one way, deeply
 * frozen. Only records new since the last check are looked at.
 */
export const normalize = (state: Schema.State): Either.Either<Schema.State, InvalidState> => {
  try {
    return Either.right(checkState(state))
  } catch (e) {
    return invalid(e)
  }
}

/**
 * `normalize`, then encode. Every write path goes through here, so the
 * store never writes what it, or the Go tool, cannot read back.
 */
export const prepareWrite = (state: Schema.State): Either.Either<Prepared, InvalidState> => {
  try {
    const checked = checkState(state)
    return Either.right({ state: checked, bytes: encodeChunks(checked) })
  } catch (e) {
    return invalid(e)
  }
}

// ---------------------------------------------------------------------------
// One record at a time

/** The name of one of the state's four maps of records. */
export type MapName = (typeof Format.maps)[number]["name"]

const mapFormats = new Map<string, MapFormat>(Format.maps.map((m) => [m.name, m]))

/**
 * One record put at `key` of map `name` (`record`), or removed from it
 * (`undefined`): the unit of `StateStore.modifyRecord`.
 */
export interface Edit {
  readonly map: MapName
  readonly key: string
  readonly record: object | undefined
}

/**
 * Checks a record a caller wants stored at `key` of map `name` by the rules
 * `normalize` applies to each entry of a map, returning it as a reader of
 * the file will see it (normalised, frozen), or `InvalidState` naming the
 * field (`jobs["j"].status`). What a one-record write checks instead of the
 * whole state.
 */
export const normalizeEntry = (name: MapName, key: string, record: unknown): Either.Either<object, InvalidState> => {
  const map = mapFormats.get(name)!
  try {
    try {
      return Either.right(checkEntry(key, record, map.record) as object)
    } catch (e) {
      return rethrow(e, field(map.key))
    }
  } catch (e) {
    return invalid(e)
  }
}

/**
 * `InvalidState` when `name` is not one of the state's maps or `key` is not
 * a string (a caller in plain JavaScript can pass anything); `undefined`
 * when they can address a record.
 */
export const checkRecordAddress = (name: unknown, key: unknown): InvalidState | undefined => {
  const map = typeof name === "string" ? mapFormats.get(name) : undefined
  if (map === undefined) {
    return new InvalidState({
      jsonPath: "$",
      expected: `the name of a map of records (${Format.maps.map((m) => m.name).join(", ")})`,
      found: describe(name)
    })
  }
  if (typeof key !== "string") {
    return new InvalidState({ jsonPath: formatPath([field(map.key)]), expected: "a string key", found: describe(key) })
  }
  return undefined
}

/** Whether two checked records of map `name` encode to the same bytes (each encoding made once, then cached). */
export const sameEntry = (name: MapName, a: object, b: object): boolean => {
  const map = mapFormats.get(name)!
  return a === b || recordBytes(a, map).equals(recordBytes(b, map))
}

/**
 * A checked `base` with checked `edits` applied in order: each map an edit
 * touches is copied once (with all its edits), the others are `base`'s own.
 * The maps built are trusted as the check's own are, so writing the result
 * walks no map again.
 */
export const withEdits = (base: Schema.State, edits: ReadonlyArray<Edit>): Schema.State => {
  const maps = new Map<MapName, { map: Record<string, object>; size: number | undefined }>()
  for (const edit of edits) {
    let built = maps.get(edit.map)
    if (built === undefined) {
      const from: { readonly [key: string]: object } = base[edit.map]
      built = { map: Object.assign(emptyMap<object>(), from), size: mapSize(from) }
      maps.set(edit.map, built)
    }
    const had = Object.hasOwn(built.map, edit.key)
    if (edit.record === undefined) {
      if (!had) continue
      delete built.map[edit.key]
      if (built.size !== undefined) built.size--
    } else {
      if (!had && built.size !== undefined) built.size++
      built.map[edit.key] = edit.record
    }
  }
  if (maps.size === 0) return base
  const out: Dict = { ...base }
  for (const [name, { map, size }] of maps) {
    Object.freeze(map)
    out[name] = size === undefined ? map : trusted(map, size)
  }
  return Object.freeze(out) as unknown as Schema.State
}
