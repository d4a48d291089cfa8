/**
 * Lossless timestamps, as the Go tool writes them.
 *
 * A `Timestamp` is the canonical RFC 3339 text Go's `time.Time.MarshalJSON`
 * produces: nanosecond precision with trailing zeros dropped, and the UTC
 * offset the time was read with (`Z` for offset zero). Keeping the text,
 * rather than a `Date` or an Effect `DateTime`, is what makes a
 * read-modify-write preserve every digit and offset: neither of those keeps
 * nanoseconds, and `Date` keeps no offset at all.
 *
 * The zero time, `0001-01-01T00:00:00Z`, means "not set"; Go writes it even
 * on fields it otherwise omits.
 *
 * @since 0.1.0
 */
import type * as Brand from "effect/Brand"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Ord from "effect/Order"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

const CANONICAL = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d*[1-9]))?(Z|[+-](?:0\d|1\d|2[0-3]):[0-5]\d)$/
const ACCEPTED = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/

const isLeapYear = (year: number) => year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)

const daysInMonth = (year: number, month: number): number =>
  month === 2 ? (isLeapYear(year) ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31

const validDateTime = (m: RegExpExecArray): boolean => {
  const year = +m[1]!
  const month = +m[2]!
  const day = +m[3]!
  // Go's RFC 3339 parser refuses hour 24 and leap second 60, like this one.
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month) && +m[4]! <= 23 &&
    +m[5]! <= 59 && +m[6]! <= 59
}

/**
 * A point in time with nanosecond precision and a fixed UTC offset, held as
 * its canonical RFC 3339 text (see the module doc).
 *
 * @since 0.1.0
 * @category models
 */
export type Timestamp = string & Brand.Brand<"Timestamp">

/**
 * True when `text` is a timestamp in exactly the form Go writes: a valid
 * calendar date, hour 00-23, no leap second, at most nine fraction digits
 * with no trailing zero, and `Z` or a `±hh:mm` offset under 24 hours other
 * than `±00:00`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isCanonical = (text: string): boolean => {
  // Hand-rolled rather than a regex: the codec checks every timestamp of the file with it.
  const n = text.length
  if (n < 20 || n > 35) return false
  const d = (i: number) => {
    const c = text.charCodeAt(i) - 48
    return c >= 0 && c <= 9 ? c : -1e6 // makes any number it is part of negative
  }
  const year = d(0) * 1000 + d(1) * 100 + d(2) * 10 + d(3)
  const month = d(5) * 10 + d(6)
  const day = d(8) * 10 + d(9)
  const hour = d(11) * 10 + d(12)
  const minute = d(14) * 10 + d(15)
  const second = d(17) * 10 + d(18)
  if (
    year < 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour < 0 || hour > 23 ||
    minute < 0 || minute > 59 || second < 0 || second > 59 || text.charCodeAt(4) !== 45 ||
    text.charCodeAt(7) !== 45 || text.charCodeAt(10) !== 84 || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58
  ) return false
  let i = 19
  if (text.charCodeAt(i) === 46) {
    const start = ++i
    while (i < n && d(i) >= 0) i++
    const digits = i - start
    if (digits === 0 || digits > 9 || text.charCodeAt(i - 1) === 48) return false
  }
  if (i === n - 1) return text.charCodeAt(i) === 90
  if (i !== n - 6) return false
  const sign = text.charCodeAt(i)
  const offsetHour = d(i + 1) * 10 + d(i + 2)
  const offsetMinute = d(i + 4) * 10 + d(i + 5)
  return (sign === 43 || sign === 45) && text.charCodeAt(i + 3) === 58 && offsetHour >= 0 && offsetHour <= 23 &&
    offsetMinute >= 0 && offsetMinute <= 59 && (offsetHour !== 0 || offsetMinute !== 0)
}

/**
 * The schema of a canonical `Timestamp`. Its arbitrary covers years 0001 to
 * 9999, every fraction length and offsets across the whole ±23:59 range.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Timestamp: Schema.brand<Schema.refine<string, typeof Schema.String>, "Timestamp"> = Schema.String.pipe(
  Schema.filter(isCanonical, { message: () => "a canonical RFC 3339 timestamp" }),
  Schema.brand("Timestamp"),
  Schema.annotations({
    identifier: "Timestamp",
    arbitrary: () => (fc) =>
      fc.record({
        seconds: fc.integer({ min: SECONDS_YEAR_1 + 86_400, max: SECONDS_YEAR_10000 - 86_400 }),
        nanos: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 999_999_999 }), fc.constant(1)),
        offset: fc.oneof(fc.constant(0), fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }))
      }).map(({ nanos, offset, seconds }) =>
        format(seconds + offset * 60, nanos, offset)
      )
  })
)

/**
 * The zero time, `0001-01-01T00:00:00Z`: Go's "not set".
 *
 * @since 0.1.0
 * @category constants
 */
export const zero: Timestamp = "0001-01-01T00:00:00Z" as Timestamp

/**
 * Reads a timestamp in any spelling the codec accepts and returns its
 * canonical form: `±00:00` becomes `Z`, trailing fraction zeros are dropped,
 * and fraction digits past the ninth are truncated (as Go does). Returns
 * `None` for anything Go's strict RFC 3339 parser refuses, and also for the
 * forms only Go's lenient fallback accepts (a comma before the fraction, a
 * one-digit hour) and for offsets of 24 hours or more, which Go reads but
 * then cannot write.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parse = (text: string): Option.Option<Timestamp> => {
  if (isCanonical(text)) return Option.some(text as Timestamp)
  const m = ACCEPTED.exec(text)
  if (m === null || !validDateTime(m)) return Option.none()
  const offset = m[8]!
  if (offset !== "Z" && (+offset.slice(1, 3) > 23 || +offset.slice(4, 6) > 59)) return Option.none()
  const fraction = (m[7] ?? "").slice(0, 9).replace(/0+$/, "")
  const zone = offset === "+00:00" || offset === "-00:00" ? "Z" : offset
  return Option.some(`${text.slice(0, 19)}${fraction === "" ? "" : "." + fraction}${zone}` as Timestamp)
}

/**
 * The schema of timestamp text as found in a file: decodes any spelling
 * `parse` accepts into the canonical `Timestamp`, and encodes it back
 * unchanged.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TimestampFromString: Schema.transformOrFail<typeof Schema.String, typeof Timestamp> = Schema
  .transformOrFail(Schema.String, Timestamp, {
    strict: true,
    decode: (text, _, ast) =>
      Option.match(parse(text), {
        onNone: () => ParseFail(ast, text),
        onSome: (ts) => Effect.succeed(ts)
      }),
    encode: (ts) => Effect.succeed(ts)
  })

const ParseFail = (ast: Schema.Schema.AnyNoContext["ast"], text: string) =>
  Effect.fail(new ParseResult.Type(ast, text, "expected an RFC 3339 timestamp"))

// ---------------------------------------------------------------------------
// Arithmetic on the calendar, valid for the whole 0001-9999 range (Date.UTC
// maps years below 100 to the 1900s, so it cannot be used here).

const SECONDS_YEAR_1 = -62_135_596_800
const SECONDS_YEAR_10000 = 253_402_300_800

const daysFromCivil = (year: number, month: number, day: number): number => {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146_097 + doe - 719_468
}

const civilFromDays = (days: number): readonly [number, number, number] => {
  const z = days + 719_468
  const era = Math.floor(z / 146_097)
  const doe = z - era * 146_097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  return [month <= 2 ? yoe + era * 400 + 1 : yoe + era * 400, month, day]
}

const pad = (n: number, width: number) => String(n).padStart(width, "0")

/** Formats local wall-clock seconds since the epoch, nanos and an offset in minutes. */
const format = (localSeconds: number, nanos: number, offsetMinutes: number): Timestamp => {
  const days = Math.floor(localSeconds / 86_400)
  const secondOfDay = localSeconds - days * 86_400
  const [year, month, day] = civilFromDays(days)
  const fraction = nanos === 0 ? "" : "." + pad(nanos, 9).replace(/0+$/, "")
  const abs = Math.abs(offsetMinutes)
  const zone = offsetMinutes === 0
    ? "Z"
    : `${offsetMinutes < 0 ? "-" : "+"}${pad(Math.floor(abs / 60), 2)}:${pad(abs % 60, 2)}`
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(Math.floor(secondOfDay / 3600), 2)}:${
    pad(Math.floor(secondOfDay / 60) % 60, 2)
  }:${pad(secondOfDay % 60, 2)}${fraction}${zone}` as Timestamp
}

interface Parts {
  readonly epochSeconds: number
  readonly nanos: number
  readonly offsetMinutes: number
}

const parts = (ts: Timestamp): Parts => {
  const m = CANONICAL.exec(ts)!
  const zone = m[8]!
  const offsetMinutes = zone === "Z" ? 0 : (zone[0] === "-" ? -1 : 1) * (+zone.slice(1, 3) * 60 + +zone.slice(4, 6))
  const local = daysFromCivil(+m[1]!, +m[2]!, +m[3]!) * 86_400 + +m[4]! * 3600 + +m[5]! * 60 + +m[6]!
  return {
    epochSeconds: local - offsetMinutes * 60,
    nanos: m[7] === undefined ? 0 : +m[7].padEnd(9, "0"),
    offsetMinutes
  }
}

/**
 * The offset from UTC the timestamp was written with, in minutes (east is
 * positive).
 *
 * @since 0.1.0
 * @category getters
 */
export const offsetMinutes = (ts: Timestamp): number => parts(ts).offsetMinutes

/**
 * Nanoseconds since 1970-01-01T00:00:00Z, exactly.
 *
 * @since 0.1.0
 * @category getters
 */
export const toEpochNanos = (ts: Timestamp): bigint => {
  const p = parts(ts)
  return BigInt(p.epochSeconds) * 1_000_000_000n + BigInt(p.nanos)
}

/**
 * True for the zero instant, Go's "not set", whatever offset it is written
 * with (`0001-01-01T01:00:00+01:00` is zero too, as in Go).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isZero = (ts: Timestamp): boolean => {
  if (ts === zero) return true
  const p = parts(ts)
  return p.epochSeconds === SECONDS_YEAR_1 && p.nanos === 0
}

/**
 * The timestamp for `epochNanos` nanoseconds since the Unix epoch, written
 * with `offsetMinutes` (default 0, written `Z`). `None` when the local time
 * falls outside years 0001-9999, which RFC 3339 cannot express, or the
 * offset is not under 24 hours.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromEpochNanos = (epochNanos: bigint, offsetMinutes = 0): Option.Option<Timestamp> => {
  if (!Number.isInteger(offsetMinutes) || Math.abs(offsetMinutes) >= 24 * 60) return Option.none()
  let seconds = epochNanos / 1_000_000_000n
  let nanos = epochNanos % 1_000_000_000n
  if (nanos < 0n) {
    nanos += 1_000_000_000n
    seconds -= 1n
  }
  const local = Number(seconds) + offsetMinutes * 60
  if (local < SECONDS_YEAR_1 || local >= SECONDS_YEAR_10000) return Option.none()
  return Option.some(format(local, Number(nanos), offsetMinutes))
}

/**
 * The current time from Effect's `Clock` (so `TestClock` drives it), with
 * the clock's full nanosecond precision, written with the process's local
 * UTC offset at that instant (`TZ`; `Z` when local time is UTC). That is
 * what the Go tool writes: `time.Now()` is in the local zone and its JSON
 * carries that zone's offset.
 *
 * @since 0.1.0
 * @category constructors
 */
export const now: Effect.Effect<Timestamp> = Effect.map(
  Clock.currentTimeNanos,
  (nanos) => {
    // getTimezoneOffset is minutes west of UTC; a zone's old local mean time may be fractional,
    // and Go's RFC 3339 output drops the seconds of such an offset too.
    const offset = Math.trunc(-new Date(Number(nanos / 1_000_000n)).getTimezoneOffset())
    return Option.getOrThrow(fromEpochNanos(nanos, offset))
  }
)

/**
 * Converts to an Effect `DateTime.Zoned` in the timestamp's own fixed
 * offset. `DateTime` has millisecond precision, so sub-millisecond digits
 * are dropped: keep the `Timestamp` itself wherever the value is written
 * back.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toDateTime = (ts: Timestamp): DateTime.Zoned => {
  const p = parts(ts)
  return DateTime.unsafeMakeZoned(p.epochSeconds * 1000 + Math.floor(p.nanos / 1_000_000), {
    timeZone: DateTime.zoneMakeOffset(p.offsetMinutes * 60_000)
  })
}

/**
 * Converts an Effect `DateTime` to a timestamp: a `Zoned` keeps its offset
 * at that instant (rounded to whole minutes, the finest RFC 3339 allows), a
 * `Utc` is written with `Z`. `None` outside years 0001-9999.
 *
 * @since 0.1.0
 * @category conversions
 */
export const fromDateTime = (dateTime: DateTime.DateTime): Option.Option<Timestamp> =>
  fromEpochNanos(
    BigInt(DateTime.toEpochMillis(dateTime)) * 1_000_000n,
    DateTime.isZoned(dateTime) ? Math.round(DateTime.zonedOffset(dateTime) / 60_000) : 0
  )

/**
 * Orders timestamps by the instant they denote, regardless of offset.
 *
 * @since 0.1.0
 * @category instances
 */
export const Order: Ord.Order<Timestamp> = (a, b) => {
  if (a === b) return 0
  const x = toEpochNanos(a)
  const y = toEpochNanos(b)
  return x < y ? -1 : x > y ? 1 : 0
}
