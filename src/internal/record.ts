/**
 * The interpreter of the field tables in `format.ts`.
 *
 * A table lists a record's fields in the order the Go struct declares them,
 * each with its camelCase name, JSON key, kind and presence rule. From it,
 * `record` derives, once at module load, the record's Effect Schema and three
 * functions specialised to the table:
 *
 * - `read`: a `JSON.parse` value → the record (validated, frozen);
 * - `write`: the record → Go's `MarshalIndent` text;
 * - `check`: a value a caller wants written → the record as a reader of the
 *   written file will see it (normalised, frozen), or a `Failure` naming the
 *   JSON path, what was expected and what was found.
 *
 * Kinds (`string`, `int`, `bool`, `timestamp`, `openEnum`, `list`, records)
 * know how to read, write and check one value; presence rules (`required`,
 * `omitEmpty`, `optional`, `nullWhenAbsent`) are Go's `omitempty` and pointer
 * semantics. `read` and `write`, the hot paths, are generated per record as
 * source text (`compile`); `check` loops over the table.
 */
import * as S from "effect/Schema"
import * as Timestamp from "../Timestamp.js"
import type * as Json from "./json.js"

// ---------------------------------------------------------------------------
// Failures and paths

/** A decode or check failure; the path is collected innermost first while it propagates. */
export class Failure {
  readonly path: Array<string> = []
  constructor(readonly expected: string, readonly found: string) {}
}

/** `.key` for identifier-like keys, `["key"]` otherwise. */
export const field = (key: string): string => /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`
/** A map entry's or list item's path segment. */
export const entry = (key: string | number): string => `[${JSON.stringify(key)}]`

/** Throws a `Failure` located at `segment` (relative to where it is caught). */
export function failAt(segment: string, expected: string, found: string): never {
  const failure = new Failure(expected, found)
  failure.path.push(segment)
  throw failure
}

/** Adds `segment` to a `Failure` on its way out; rethrows anything else untouched. */
export const rethrow = (e: unknown, segment: string): never => {
  if (e instanceof Failure) e.path.push(segment)
  throw e
}

/** The JSON path of a failure, outermost first (`jobs["j"].changes[0]`); `$` for the document. */
export const formatPath = (segments: ReadonlyArray<string>): string => {
  if (segments.length === 0) return "$"
  let out = ""
  for (let i = segments.length - 1; i >= 0; i--) {
    // A cycle or a 1 000-deep value would make a path of a thousand segments: keep its two ends.
    if (i === segments.length - 1 - 24 && i >= 16) {
      out += `…(${i - 8} more)…`
      i = 8
    }
    out += segments[i]
  }
  return out[0] === "." ? out.slice(1) : out
}

/** A short description of a value, for `found`. Never throws, whatever the value. */
export const describe = (v: unknown): string => {
  if (v === null) return "null"
  if (Array.isArray(v)) return "an array"
  switch (typeof v) {
    case "string":
      return `the string ${JSON.stringify(v.length > 60 ? v.slice(0, 60) + "…" : v)}`
    case "number":
      return `the number ${v}`
    case "boolean":
      return String(v)
    case "undefined":
      return "undefined"
    case "bigint":
      return `the bigint ${v}n`
    case "function":
      return "a function"
    case "symbol":
      return "a symbol"
    default: {
      const proto = Object.getPrototypeOf(v)
      return proto === null || proto === Object.prototype
        ? "an object"
        : `an instance of ${typeof proto.constructor === "function" ? proto.constructor.name || "a class" : "a class"}`
    }
  }
}

export type Dict = Record<string, unknown>

export const isObject = (v: unknown): v is Dict => typeof v === "object" && v !== null && !Array.isArray(v)

/** The prototypes of checked records, one per record kind (see `checkedPrototype`). */
const checkedPrototypes = new Set<object>()

/** An object literal, or one with no prototype, or a checked record: what `JSON.parse` and the decoder build. */
export const isPlainObject = (v: unknown): v is Dict => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v)
  return proto === null || proto === Object.prototype || checkedPrototypes.has(proto)
}

const wellFormed = (s: string, what: string): string => {
  if (s.isWellFormed()) return s
  throw new Failure(`${what} of well-formed Unicode text`, "a string with an unpaired surrogate")
}

// ---------------------------------------------------------------------------
// Per-decode context (no module globals: decode is reentrant)

/** What one decode carries down: how `JSON.parse`-hidden spellings looked, and what it noticed. */
export interface ReadContext {
  readonly spellings: Json.Spellings | undefined
  /** Set when a record had a legacy key (a session's `prompt`), which the store must rewrite away. */
  hadLegacyKey: boolean
}

// ---------------------------------------------------------------------------
// Output helpers

const indents: Array<string> = []
/** A newline and `depth` levels of two-space indentation. */
export const indent = (depth: number): string => indents[depth] ??= "\n" + "  ".repeat(depth)

const NEEDS_ESCAPE = /["\\\u0000-\u001f<>&\u2028\u2029\ud800-\udfff]/
const HTML_AND_SEPARATORS = /[<>&\u2028\u2029]/g
const escapes: Record<string, string> = {
  "<": "\\u003c",
  ">": "\\u003e",
  "&": "\\u0026",
  "\u2028": "\\u2028",
  "\u2029": "\\u2029"
}

/** A JSON string literal exactly as Go's encoding/json writes it. */
export const quote = (s: string): string => {
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`
  return JSON.stringify(s.toWellFormed()).replace(HTML_AND_SEPARATORS, (c) => escapes[c]!)
}

// ---------------------------------------------------------------------------
// JSON values (the values of keys this version does not know)

/**
 * A JSON value kept verbatim from a key this version does not know.
 */
export type JsonValue = null | boolean | number | string | ReadonlyArray<JsonValue> | {
  readonly [key: string]: JsonValue
}

/** Deeper containers are refused (by `Json.parse` too): the state's own structure is 8 levels deep. */
export const maxDepth = 1000

const tooDeep = () => new Failure(`nesting at most ${maxDepth} deep`, "deeper nesting (or a cycle)")

/**
 * Validates a JSON value (a container at absolute document depth `depth`)
 * and freezes it. From a file (`fromCaller` false) only integers beyond
 * ±(2^53−1) and depth can be wrong; from a caller anything can, and `-0`
 * becomes 0, as it would be read back.
 */
export const jsonValue = (v: unknown, depth: number, fromCaller: boolean): JsonValue => {
  switch (typeof v) {
    case "string":
      return fromCaller ? wellFormed(v, "a string") : v
    case "boolean":
      return v
    case "number":
      if (!Number.isFinite(v)) throw new Failure("a finite number", describe(v))
      if (Number.isInteger(v) && !Number.isSafeInteger(v)) {
        throw new Failure("a number JavaScript holds exactly", "an integer beyond ±(2^53−1)")
      }
      return v === 0 ? 0 : v
    case "object":
      if (v === null) return null
      break
    default:
      throw new Failure("a JSON value", describe(v))
  }
  if (depth > maxDepth) throw tooDeep()
  if (Array.isArray(v)) {
    let out: Array<JsonValue> | undefined
    for (let i = 0; i < v.length; i++) {
      const item: unknown = v[i]
      let checked: JsonValue
      try {
        if (fromCaller && item === undefined) throw new Failure("a JSON value", "undefined (or a hole)")
        checked = jsonValue(item, depth + 1, fromCaller)
      } catch (e) {
        return rethrow(e, `[${i}]`)
      }
      if (checked !== item) (out ??= v.slice(0, i))[i] = checked
      else if (out !== undefined) out[i] = checked
    }
    return Object.freeze(out ?? v) as JsonValue
  }
  if (fromCaller && !isPlainObject(v)) throw new Failure("a JSON value", describe(v))
  let out: Dict | undefined
  for (const key in v) {
    const item = (v as Dict)[key]
    let checked: JsonValue
    try {
      if (fromCaller) {
        wellFormed(key, "a key")
        if (item === undefined) throw new Failure("a JSON value", "undefined")
      }
      checked = jsonValue(item, depth + 1, fromCaller)
    } catch (e) {
      return rethrow(e, field(key))
    }
    if (checked !== item) {
      out ??= { ...(v as Dict) }
      out[key] = checked
    }
  }
  return Object.freeze(out ?? v) as JsonValue
}

const jsonValueArbitrary = (fc: typeof import("effect/FastCheck")): import("effect/FastCheck").Arbitrary<JsonValue> =>
  fc.letrec<{ value: JsonValue }>((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constant(null),
      fc.boolean(),
      fc.integer(),
      fc.integer().map((n) => n / 8),
      fc.string(),
      fc.array(tie("value"), { maxLength: 3 }),
      fc.dictionary(fc.string(), tie("value"), { maxKeys: 3 })
    )
  })).value

/** The schema of `JsonValue`. */
export const JsonValueSchema: S.Schema<JsonValue> = S.suspend(() =>
  S.Union(
    S.Null,
    S.Boolean,
    S.Number.pipe(S.filter((n) => Number.isFinite(n) && (!Number.isInteger(n) || Number.isSafeInteger(n)))),
    S.String,
    S.Array(JsonValueSchema),
    S.Record({ key: S.String, value: JsonValueSchema })
  )
).annotations({ identifier: "JsonValue", arbitrary: () => jsonValueArbitrary })

/** Writes a JSON value as Go's `MarshalIndent` would, at `depth`. */
export const writeJson = (v: JsonValue, depth: number): string => {
  if (v === null) return "null"
  switch (typeof v) {
    case "string":
      return quote(v)
    case "number":
      return JSON.stringify(v)
    case "boolean":
      return v ? "true" : "false"
  }
  const inner = indent(depth + 1)
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]"
    let out = "["
    for (let i = 0; i < v.length; i++) out += (i === 0 ? inner : "," + inner) + writeJson(v[i], depth + 1)
    return out + indent(depth) + "]"
  }
  const keys = Object.keys(v)
  if (keys.length === 0) return "{}"
  let out = "{"
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    out += (i === 0 ? inner : "," + inner) + quote(key) + ": " + writeJson((v as Record<string, JsonValue>)[key]!, depth + 1)
  }
  return out + indent(depth) + "}"
}

// ---------------------------------------------------------------------------
// Kinds

/**
 * How one value is read, written and checked. `depth` is the absolute
 * document depth a container value would have.
 */
export interface Kind<A, I = A> {
  /** The schema of the decoded value. */
  readonly schema: S.Schema<A, I>
  /** The schema of a value Go's `omitempty` keeps (for `omitEmpty` fields). */
  readonly nonEmpty: S.Schema<A, I>
  /** The value of a missing or `null` required field: Go's zero value. */
  readonly zero: A
  /** Whether Go's `omitempty` leaves the value out. */
  readonly isEmpty: (a: A) => boolean
  /** A `JSON.parse` value (never undefined) → the value; `owner[key]` is where it was. */
  readonly read: (v: unknown, owner: Dict, key: string, ctx: ReadContext, depth: number) => A
  /** The value's JSON text at `depth`. */
  readonly write: (a: A, depth: number) => string
  /** A caller's value → the value as it will be read back; throws `Failure` for what the file cannot hold. */
  readonly check: (v: unknown, depth: number) => A
  /** For a list: the kind of its items. */
  readonly item?: Kind<any, any>
}

/** A string. `null` reads as `""`, as Go reads it. */
export const string: Kind<string> = {
  schema: S.String,
  nonEmpty: S.String.pipe(S.minLength(1)),
  zero: "",
  isEmpty: (s) => s === "",
  read: (v) => {
    if (typeof v === "string") return v
    if (v === null) return ""
    throw new Failure("a string", describe(v))
  },
  write: quote,
  check: (v) => {
    if (typeof v !== "string") throw new Failure("a string", describe(v))
    return wellFormed(v, "a string")
  }
}

/** A boolean. `null` reads as `false`. */
export const bool: Kind<boolean> = {
  schema: S.Boolean,
  nonEmpty: S.Boolean,
  zero: false,
  isEmpty: (b) => !b,
  read: (v) => {
    if (typeof v === "boolean") return v
    if (v === null) return false
    throw new Failure("a boolean", describe(v))
  },
  write: (b) => (b ? "true" : "false"),
  check: (v) => {
    if (typeof v !== "boolean") throw new Failure("a boolean", describe(v))
    return v
  }
}

const SafeInt = S.Number.pipe(
  S.filter(Number.isSafeInteger, { message: () => "an integer within ±(2^53−1)" }),
  S.annotations({ arbitrary: () => (fc) => fc.oneof(fc.integer(), fc.maxSafeInteger()) })
)

/**
 * A Go `int`, limited to what a JavaScript number holds exactly. A fraction
 * or exponent is refused even when the value is whole (`1.0`, `1e2`), as
 * Go refuses it; `-0` is 0.
 */
export const int: Kind<number> = {
  schema: SafeInt,
  nonEmpty: SafeInt.pipe(S.filter((n) => n !== 0)),
  zero: 0,
  isEmpty: (n) => n === 0,
  read: (v, owner, key, ctx) => {
    if (typeof v !== "number") throw new Failure("an integer", describe(v))
    if (ctx.spellings?.get(owner)?.get(key) === "fraction-or-exponent") {
      throw new Failure("an integer without fraction or exponent", `the number ${v} written with one`)
    }
    if (!Number.isSafeInteger(v)) {
      throw new Failure(
        "an integer within ±(2^53−1)",
        Number.isInteger(v) ? "an integer too large to hold exactly" : `the number ${v}`
      )
    }
    return v === 0 ? 0 : v
  },
  write: (n) => JSON.stringify(n),
  check: (v) => {
    if (typeof v !== "number" || !Number.isSafeInteger(v)) throw new Failure("an integer within ±(2^53−1)", describe(v))
    return v === 0 ? 0 : v
  }
}

/** An RFC 3339 time, kept as its canonical text. `null` reads as the zero time. */
export const timestamp: Kind<Timestamp.Timestamp, string> = {
  schema: Timestamp.Timestamp,
  nonEmpty: Timestamp.Timestamp,
  zero: Timestamp.zero,
  // Go's omitempty never leaves out a struct: a zero time is still written.
  isEmpty: () => false,
  read: (v, owner, key, ctx) => {
    if (v === null) return Timestamp.zero
    if (typeof v !== "string") throw new Failure("an RFC 3339 timestamp string", describe(v))
    if (ctx.spellings?.get(owner)?.get(key) === "escaped") {
      throw new Failure("an RFC 3339 timestamp without escapes", describe(v))
    }
    if (Timestamp.isCanonical(v)) return v as Timestamp.Timestamp
    const parsed = Timestamp.parse(v)
    if (parsed._tag === "None") throw new Failure("an RFC 3339 timestamp", describe(v))
    return parsed.value
  },
  // Canonical text has nothing to escape.
  write: (t) => "\"" + t + "\"",
  check: (v) => {
    if (typeof v !== "string") throw new Failure("an RFC 3339 timestamp string", describe(v))
    if (Timestamp.isCanonical(v)) return v as Timestamp.Timestamp
    const parsed = Timestamp.parse(v)
    if (parsed._tag === "None") throw new Failure("an RFC 3339 timestamp", describe(v))
    return parsed.value
  }
}

/**
 * A value of an enum that a newer Go tool may extend: a string this version
 * does not know, read from a state file and kept so it is written back
 * unchanged.
 */
const UnknownValueSchema = S.String.pipe(S.brand("@incrementum/state/UnknownValue"))

/** A string some state file held as an enum value this version does not know. */
export type UnknownValue = typeof UnknownValueSchema.Type

/** The schema of `UnknownValue`: any string, branded; its arbitrary makes strings no enum knows. */
export const UnknownValue: S.Schema<UnknownValue, string> = UnknownValueSchema.annotations({
  identifier: "UnknownValue",
  arbitrary: () => (fc) => fc.string().map((s) => `x-new-${s}` as UnknownValue)
})

/** An enum kind, and its known literals for guards. */
export interface OpenEnum<L extends string> extends Kind<L | "" | UnknownValue, string> {
  readonly literals: ReadonlyArray<L | "">
  readonly isKnown: (s: string) => s is L | ""
}

/**
 * An enum whose known values are `literals` (plus `""`, Go's zero value).
 * Go keeps any string, so a value this version does not know is read and
 * kept as an `UnknownValue`, and remembered: a caller may write back a
 * value some state file held, but not invent one.
 */
export const openEnum = <const L extends ReadonlyArray<string>>(name: string, ...literals: L): OpenEnum<L[number]> => {
  const known: ReadonlySet<string> = new Set([...literals, ""])
  const seen = new Set<string>()
  const expected = `one of ${literals.map((a) => JSON.stringify(a)).join(", ")}, "" or a value a state file held`
  const isKnown = (s: string): s is L[number] | "" => known.has(s)
  const schema = S.Union(S.Literal(...literals, ""), UnknownValue).annotations({ identifier: name }) as unknown as S.Schema<
    L[number] | "" | UnknownValue,
    string
  >
  return {
    literals: [...literals, ""],
    isKnown,
    schema,
    nonEmpty: schema,
    zero: "",
    isEmpty: (s) => s === "",
    read: (v) => {
      if (v === null) return ""
      if (typeof v !== "string") throw new Failure("a string", describe(v))
      const s = v
      if (!known.has(s)) seen.add(s)
      return s as L[number] | UnknownValue
    },
    write: quote,
    check: (v) => {
      if (typeof v === "string" && (known.has(v) || seen.has(v))) return v as L[number] | UnknownValue
      throw new Failure(expected, describe(v))
    }
  }
}

/**
 * A list that Go leaves out when empty (`omitempty`), typed non-empty: an
 * empty list is read, and normalised on write, as an absent one.
 */
export const nonEmptyList = <A, I>(
  item: Kind<A, I>
): Kind<readonly [A, ...Array<A>], readonly [I, ...Array<I>]> =>
  list(item) as unknown as Kind<readonly [A, ...Array<A>], readonly [I, ...Array<I>]>

/** A list of values of `item`. */
export const list = <A, I>(item: Kind<A, I>): Kind<ReadonlyArray<A>, ReadonlyArray<I>> => ({
  item,
  schema: S.Array(item.schema),
  nonEmpty: S.NonEmptyArray(item.schema) as unknown as S.Schema<ReadonlyArray<A>, ReadonlyArray<I>>,
  zero: [],
  isEmpty: (items) => items.length === 0,
  read: (v, _owner, _key, ctx, depth) => {
    if (!Array.isArray(v)) throw new Failure("an array", describe(v))
    if (depth > maxDepth) throw tooDeep()
    const out = new Array<A>(v.length)
    for (let i = 0; i < v.length; i++) {
      try {
        // No key: the spellings `read` looks up by owner and key are marked on objects only.
        out[i] = item.read(v[i], v as unknown as Dict, "", ctx, depth + 1)
      } catch (e) {
        rethrow(e, `[${i}]`)
      }
    }
    return Object.freeze(out)
  },
  write: (items, depth) => {
    if (items.length === 0) return "[]"
    const d = indent(depth + 1)
    let out = "["
    for (let i = 0; i < items.length; i++) out += (i === 0 ? d : "," + d) + item.write(items[i]!, depth + 1)
    return out + indent(depth) + "]"
  },
  check: (v, depth) => {
    if (!Array.isArray(v)) throw new Failure("an array", describe(v))
    if (depth > maxDepth) throw tooDeep()
    let out: Array<A> | undefined
    for (let i = 0; i < v.length; i++) {
      const value: unknown = v[i]
      let checked: A
      try {
        checked = item.check(value, depth + 1)
      } catch (e) {
        return rethrow(e, `[${i}]`)
      }
      if (checked !== value) (out ??= v.slice(0, i))[i] = checked
      else if (out !== undefined) out[i] = checked
    }
    return Object.freeze(out ?? (v as Array<A>))
  }
})

// ---------------------------------------------------------------------------
// Fields and records

/**
 * When a field is in the file, after Go's `encoding/json`:
 *
 * - `required`: always written; missing or `null` reads as the kind's zero.
 * - `omitEmpty`: `omitempty`; an empty value is absent in the record.
 * - `optional`: a pointer with `omitempty`; present whenever set, the zero
 *   value included (`exit_code: 0`, `tests_passed: false`).
 * - `nullWhenAbsent`: a slice without `omitempty`; absent is written `null`,
 *   an empty list `[]`.
 */
export type Presence = "required" | "omitEmpty" | "optional" | "nullWhenAbsent"

/** One row of a record's table. */
export interface Field<F extends S.Struct.Field> {
  readonly key: string
  readonly presence: Presence
  readonly kind: Kind<any, any>
  /** The field of the record's `S.Struct`. */
  readonly schema: F
}

/** A field Go always writes. */
export const required = <A, I>(key: string, kind: Kind<A, I>): Field<S.Schema<A, I>> => ({
  key,
  presence: "required",
  kind,
  schema: kind.schema
})

/** A field Go leaves out when empty (`omitempty`): absent in the record rather than empty. */
export const omitEmpty = <A, I>(key: string, kind: Kind<A, I>): Field<S.optional<S.Schema<A, I>>> => ({
  key,
  presence: "omitEmpty",
  kind,
  schema: S.optional(kind.nonEmpty)
})

/** A pointer field with `omitempty`: present whenever set, its zero value included. */
export const optional = <A, I>(key: string, kind: Kind<A, I>): Field<S.optional<S.Schema<A, I>>> => ({
  key,
  presence: "optional",
  kind,
  schema: S.optional(kind.schema)
})

/** A slice without `omitempty`: absent is written `null`. */
export const nullWhenAbsent = <A, I>(key: string, kind: Kind<A, I>): Field<S.optional<S.Schema<A, I>>> => ({
  key,
  presence: "nullWhenAbsent",
  kind,
  schema: S.optional(kind.schema)
})

/** Keys a record had in the file that this version does not know, in the order read. */
export type UnknownFields = { readonly [key: string]: JsonValue }

/**
 * Checks a caller's `v.unknownFields` (of a record at `depth`): JSON values,
 * well-formed keys none of which the record knows. Sets the frozen result
 * on `out` (leaving out an empty one) and returns whether it differs from
 * what `v` had.
 */
export const checkUnknownFields = (v: Dict, out: Dict, depth: number, isKnownKey: (key: string) => boolean): boolean => {
  const unknown = v.unknownFields
  if (unknown === undefined) return "unknownFields" in v
  if (!isPlainObject(unknown)) failAt(".unknownFields", "an object of JSON values", describe(unknown))
  let keys = 0
  let next: Dict | undefined
  for (const key in unknown) {
    keys++
    const value = unknown[key]
    let checkedValue: JsonValue
    try {
      wellFormed(key, "a key")
      if (isKnownKey(key)) throw new Failure("a key this version does not know", `the known key ${JSON.stringify(key)}`)
      if (value === undefined) throw new Failure("a JSON value", "undefined")
      checkedValue = jsonValue(value, depth + 1, true)
    } catch (e) {
      return rethrow(e, field(key))
    }
    if (checkedValue !== value) (next ??= { ...unknown })[key] = checkedValue
  }
  if (keys === 0) return true
  out.unknownFields = Object.freeze(next ?? unknown)
  return next !== undefined
}

/** Refuses a property of a caller's record that is neither a field nor `unknownFields` (an undefined one is dropped). */
export const checkNoOtherProperty = (v: Dict, identifier: string, isKnownName: (name: string) => boolean): void => {
  for (const key in v) {
    if (!isKnownName(key) && key !== "unknownFields" && v[key] !== undefined) {
      failAt(field(key), `no such property: a ${identifier} has its known fields and unknownFields only`, describe(v[key]))
    }
  }
}

/** The schema of a record's `unknownFields`, whose generated keys never collide with known ones. */
export const unknownFieldsSchemaFor = (isKnownKey: (key: string) => boolean): S.Schema<UnknownFields> =>
  S.Record({ key: S.String, value: JsonValueSchema }).annotations({
    arbitrary: () => (fc) =>
      // A generated known key would be decoded as that field.
      fc.dictionary(
        fc.string().map((s) => "x-" + s).filter((k) => !isKnownKey(k)),
        jsonValueArbitrary(fc),
        { minKeys: 1, maxKeys: 3 }
      )
  })

type Fields = {
  readonly [name: string]: Field<S.Schema<any, any, never> | S.optional<S.Schema<any, any, never>>>
}

type StructOf<F extends Fields> = S.Struct<
  { readonly [K in keyof F]: F[K]["schema"] } & { readonly unknownFields: S.optional<S.Schema<UnknownFields>> }
>

/** A record kind: its table, schema, known keys and derived functions. */
export interface RecordKind<F extends Fields> extends Kind<S.Schema.Type<StructOf<F>>, S.Schema.Encoded<StructOf<F>>> {
  readonly identifier: string
  readonly fields: F
  /** The record's schema, as precise as its table (`schema` is the same, typed as a plain `Schema`). */
  readonly struct: StructOf<F>
  /** The JSON keys this version knows (legacy ones included), in the file's order. */
  readonly knownKeys: ReadonlyArray<string>
}

interface Row {
  readonly name: string
  readonly key: string
  /** `"key": ` as written. */
  readonly label: string
  readonly presence: Presence
  readonly kind: Kind<unknown, unknown>
}

/**
 * The prototype of records of one kind this process has checked or decoded
 * (all deeply frozen): their content is known to be writable as it is, so a
 * write checks only records that are new since. A prototype rather than a
 * WeakSet or a property: it costs no lookup, no GC work and no extra write
 * per record, and a spread copy (a new, unchecked object) does not inherit
 * it. It adds nothing visible: no own key, and `Object.prototype` behind it.
 * One per kind, so that a checked record put where another kind belongs (a
 * job in `opencode_sessions`, which has every field a session requires) is
 * checked as that kind, not trusted.
 */
const checkedPrototype = (): object => {
  const proto: object = Object.freeze(Object.create(Object.prototype))
  checkedPrototypes.add(proto)
  return proto
}

const isChecked = (v: object, proto: object): boolean => Object.getPrototypeOf(v) === proto && Object.isFrozen(v)

/** What the functions `compile` generates use, besides the rows' kinds. */
const runtime = { Failure, describe, field, indent, isObject, jsonValue, maxDepth, quote, rethrow, tooDeep, writeJson }

/**
 * A record's `read` and `write`, generated from its rows once at module
 * load. A loop over the table walked a parsed file at about twice the CPU
 * of the hand-written codec this replaced (a whole decode: 1.18x): a table
 * lookup per key, one call site calling every kind's `read` (too many
 * targets for V8 to inline any), and a store under a computed name into an
 * object growing one property at a time. The generated code is what that
 * codec was, for every record: a `switch` on the key, a local per field,
 * each kind called from a site of its own, the record built by a
 * constructor (its prototype marks it checked). The table's text enters
 * the source only as JSON string literals (`JSON.stringify`: keys, names,
 * a message); kinds and labels are passed in, so no key can inject code.
 */
const compile = (rows: ReadonlyArray<Row>, proto: object, legacyKeys: ReadonlySet<string>): {
  readonly read: Kind<unknown>["read"]
  readonly write: Kind<unknown>["write"]
} => {
  const lit = JSON.stringify
  const all = (f: (row: Row, i: number) => string, separator = "\n") => rows.map(f).join(separator)
  const source = `"use strict"
const { Failure, describe, field, indent, isObject, jsonValue, maxDepth, quote, rethrow, tooDeep, writeJson } = runtime
${all((_, i) => `const read${i} = kinds[${i}].read, write${i} = kinds[${i}].write, isEmpty${i} = kinds[${i}].isEmpty, zero${i} = kinds[${i}].zero, label${i} = labels[${i}]`)}
function Record(${all((_, i) => `f${i}`, ", ")}) {
${all((row, i) => row.presence === "required" ? `  this[${lit(row.name)}] = f${i}` : `  if (f${i} !== undefined) this[${lit(row.name)}] = f${i}`)}
}
Record.prototype = proto
const read = (v, _owner, _key, ctx, depth) => {
  let o
  if (isObject(v)) o = v
  else if (v === null) o = {}
  else throw new Failure("an object", describe(v))
  if (depth > maxDepth) throw tooDeep()
  const d = depth + 1
  ${all((row, i) => `let f${i}${row.presence === "required" ? ` = zero${i}` : ""}`, "; ")}
  let unknown
  for (const key in o) {
    const value = o[key]
    try {
      switch (key) {
${
    all((row, i) =>
      `        case ${lit(row.key)}: ` + (
        row.presence === "required"
          ? `f${i} = read${i}(value, o, key, ctx, d)`
          : row.presence === "omitEmpty"
          // null is Go's "not set": absent, as is an empty value Go would omit.
          ? `if (value !== null) { const x = read${i}(value, o, key, ctx, d); if (!isEmpty${i}(x)) f${i} = x }`
          : `if (value !== null) f${i} = read${i}(value, o, key, ctx, d)`
      ) + "; break"
    )
  }
        default:
          if (legacyKeys.has(key)) ctx.hadLegacyKey = true
          else (unknown ??= Object.create(null))[key] = jsonValue(value, d, false)
      }
    } catch (e) {
      rethrow(e, field(key))
    }
  }
  const out = new Record(${all((_, i) => `f${i}`, ", ")})
  if (unknown !== undefined) out.unknownFields = Object.freeze(unknown)
  return Object.freeze(out)
}
const write = (r, depth) => {
  const d = indent(depth + 1), c = "," + d, inner = depth + 1
  let out = "{", sep = d, v
${
    all((row, i) =>
      `  v = r[${lit(row.name)}]\n` + (
        row.presence === "required"
          ? `  if (v === undefined) throw new Failure(${lit(`a value for ${row.name}`)}, "none")
  out += sep + label${i} + write${i}(v, inner); sep = c`
          : row.presence === "nullWhenAbsent"
          ? `  out += sep + label${i} + (v === undefined ? "null" : write${i}(v, inner)); sep = c`
          : `  if (v !== undefined${row.presence === "omitEmpty" ? ` && !isEmpty${i}(v)` : ""}) { out += sep + label${i} + write${i}(v, inner); sep = c }`
      )
    )
  }
  const unknown = r.unknownFields
  if (unknown !== undefined) {
    for (const key of Object.keys(unknown)) { out += sep + quote(key) + ": " + writeJson(unknown[key], inner); sep = c }
  }
  return sep === d ? "{}" : out + indent(depth) + "}"
}
return { read, write }`
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from the table, see above
  return new Function("runtime", "kinds", "labels", "proto", "legacyKeys", source)(
    runtime,
    rows.map((row) => row.kind),
    rows.map((row) => row.label),
    proto,
    legacyKeys
  )
}

/**
 * Builds a record kind from its table. `legacyKeys` are keys old versions
 * wrote: dropped at read (noted in the context, so the store rewrites the
 * file without them), and never writable as unknown fields.
 */
export const record = <const F extends Fields>(
  identifier: string,
  fields: F,
  options?: { readonly legacyKeys?: ReadonlyArray<string>; readonly description?: string }
): RecordKind<F> => {
  const rows: Array<Row> = Object.entries(fields).map(([name, f]) => ({
    name,
    key: f.key,
    label: quote(f.key) + ": ",
    presence: f.presence,
    kind: f.kind as Kind<unknown, unknown>
  }))
  const n = rows.length
  const indexByKey: Record<string, number> = Object.create(null)
  const indexByName: Record<string, number> = Object.create(null)
  rows.forEach((row, i) => {
    // A repeated key would be a dead `case`; these names are not fields.
    if (indexByKey[row.key] !== undefined || row.name === "__proto__" || row.name === "unknownFields") {
      throw new Error(`${identifier}: field ${row.name} (key ${row.key}) repeats a key or uses a reserved name`)
    }
    indexByKey[row.key] = i
    indexByName[row.name] = i
  })
  const legacyKeys: ReadonlySet<string> = new Set(options?.legacyKeys ?? [])
  const knownKeys = [...rows.map((r) => r.key), ...legacyKeys]
  const isKnownKey = (key: string) => indexByKey[key] !== undefined || legacyKeys.has(key)

  const unknownFieldsSchema = unknownFieldsSchemaFor(isKnownKey)
  const structFields: Record<string, S.Struct.Field> = {}
  for (const [name, f] of Object.entries(fields)) structFields[name] = f.schema
  structFields.unknownFields = S.optional(unknownFieldsSchema)
  const schema = S.Struct(structFields).annotations({
    identifier,
    ...(options?.description === undefined ? {} : { description: options.description })
  }) as unknown as StructOf<F>

  type A = S.Schema.Type<StructOf<F>>
  const CheckedRecord = checkedPrototype()

  const { read, write } = compile(rows, CheckedRecord, legacyKeys) as {
    readonly read: Kind<A>["read"]
    readonly write: Kind<A>["write"]
  }

  const check = (v: unknown, depth: number): A => {
    if (typeof v === "object" && v !== null && isChecked(v, CheckedRecord)) return v as A
    if (!isPlainObject(v)) throw new Failure(`a ${identifier} object`, describe(v))
    if (depth > maxDepth) throw tooDeep()
    // Always a copy: only a record built here can carry the checked prototype.
    const out: Dict = Object.create(CheckedRecord)
    for (let i = 0; i < n; i++) {
      const row = rows[i]!
      const value = v[row.name]
      try {
        if (value === undefined) {
          if (row.presence === "required") throw new Failure("a value (the field is required)", "none")
          continue
        }
        const next = row.kind.check(value, depth + 1)
        if (row.presence === "omitEmpty" && row.kind.isEmpty(next)) continue
        out[row.name] = next
      } catch (e) {
        rethrow(e, field(row.key))
      }
    }
    checkUnknownFields(v, out, depth, isKnownKey)
    checkNoOtherProperty(v, identifier, (name) => indexByName[name] !== undefined)
    return Object.freeze(out) as A
  }

  return {
    identifier,
    fields,
    struct: schema,
    schema: schema as unknown as S.Schema<A, S.Schema.Encoded<StructOf<F>>>,
    nonEmpty: schema as unknown as S.Schema<A, S.Schema.Encoded<StructOf<F>>>,
    knownKeys,
    zero: undefined as unknown as A,
    isEmpty: () => false,
    read,
    write,
    check
  }
}
