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

/** The top-level maps are at depth 2, their records at 3. */
const readMap = (
  v: unknown,
  kind: (typeof Format.maps)[number]["record"],
  ctx: ReadContext
): Record<string, unknown> => {
  // No prototype: keys like "__proto__" or "constructor" are plain data.
  const out = emptyMap<unknown>()
  let size = 0
  if (v !== null && v !== undefined) {
    if (!isObject(v)) throw new Failure("an object", describe(v))
    for (const key in v) {
      size++
      let value: object
      try {
        value = kind.read(v[key], v, key, ctx, 3)
      } catch (e) {
        return rethrow(e, entry(key))
      }
      out[key] = value
    }
  }
  return trusted(Object.freeze(out), size)
}

const readState = (v: unknown, ctx: ReadContext): Schema.State => {
  if (v === null) return emptyState
  if (!isObject(v)) throw new Failure("an object", describe(v))
  const state: Dict = {}
  for (const map of Format.maps) state[map.name] = undefined
  let unknown: Record<string, JsonValue> | undefined
  for (const key in v) {
    const value = v[key]
    try {
      const map = stateKeys[key]
      if (map !== undefined) state[map.name] = readMap(value, map.record, ctx)
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
    if (needsTokens(text)) {
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

/**
 * Decodes the file's text or bytes. The result is `Left` for every invalid
 * input; no input makes this throw. Reentrant: each call has its own
 * context.
 */
export const decode = (
  input: string | Uint8Array,
  path: string | undefined
): Either.Either<Decoded, CorruptStateFile> => {
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
 * object. Only frozen records are cached (those decode or the write check
 * returned), so a record mutated in place can never be written stale.
 * An update that replaces one job re-encodes only that job, and the
 * document is assembled with one copy per entry. (Concatenating cached
 * strings instead builds a rope that costs more to flatten than the whole
 * encode.) After each encode the cached bytes are views into the output,
 * so the cache costs no memory beyond the output the store keeps anyway.
 */
const entryBytes = new WeakMap<object, Buffer>()

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
    const out = Buffer.allocUnsafe(this.size)
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

const writeMap = (out: Chunks, map: { readonly [key: string]: object }, kind: (typeof Format.maps)[number]["record"]) => {
  const keys = sortedKeys(map)
  if (keys.length === 0) return out.text("{}")
  const d = indent(2)
  out.text("{")
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    const value = map[key]!
    let bytes = entryBytes.get(value)
    out.text((i === 0 ? d : "," + d) + quote(key) + ": ")
    if (bytes === undefined) {
      try {
        bytes = Buffer.from(kind.write(value as never, 2), "utf8")
      } catch (e) {
        // A record longer than V8's longest string cannot be written, nor read back.
        if (e instanceof RangeError) failAt(entry(key), "a record whose encoding fits in a string", "a larger record")
        throw e
      }
      out.entry(Object.isFrozen(value) ? value : undefined, bytes)
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
      writeMap(out, state[map.name], map.record)
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
const recordBytes = (record: object, kind: (typeof Format.maps)[number]["record"]): Buffer => {
  let bytes = entryBytes.get(record)
  if (bytes === undefined) {
    bytes = Buffer.from(kind.write(record as never, 2), "utf8")
    entryBytes.set(record, bytes)
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
      if (before === undefined || !recordBytes(before, map.record).equals(recordBytes(after, map.record))) return false
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
    let next: unknown
    try {
      if (!key.isWellFormed()) throw new Failure("a key of well-formed Unicode text", "a key with an unpaired surrogate")
      next = kind.check(value, 3)
    } catch (e) {
      return rethrow(e, entry(key))
    }
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
