import { describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as S from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as Timestamp from "../src/Timestamp.js"

const ts = (text: string) => Option.getOrThrow(Timestamp.parse(text))

describe("Timestamp.parse", () => {
  it.each([
    ["2026-01-15T10:23:45+00:00", "2026-01-15T10:23:45Z"],
    ["2026-01-15T10:23:45-00:00", "2026-01-15T10:23:45Z"],
    ["2026-01-15T10:23:45.120Z", "2026-01-15T10:23:45.12Z"],
    ["2026-01-15T10:23:45.000Z", "2026-01-15T10:23:45Z"],
    ["2026-01-15T10:23:45.9999999999Z", "2026-01-15T10:23:45.999999999Z"],
    ["2026-01-15T10:23:45.123456789-08:00", "2026-01-15T10:23:45.123456789-08:00"],
    ["0001-01-01T00:00:00+23:59", "0001-01-01T00:00:00+23:59"],
    ["2024-02-29T12:00:00.5+09:00", "2024-02-29T12:00:00.5+09:00"]
  ])("%s reads as %s", (input, canonical) => {
    expect(ts(input)).toBe(canonical)
    expect(Timestamp.isCanonical(canonical)).toBe(true)
  })

  it.each([
    "", "2026-01-15", "2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z", "2026-01-15T24:00:00Z", "2016-12-31T23:59:60Z",
    "2026-01-15t10:23:45Z", "2026-01-15T10:23:45z", "2026-01-15T10:23:45", "2026-01-15T10:23:45+0530",
    "2026-01-15T10:23:45+05:30:00", "2026-01-15T10:3:45Z", "2026-1-15T10:23:45Z", "2026-01-15 10:23:45Z",
    "10000-01-01T00:00:00Z", "2026-01-15T10:23:45.Z", "2026-01-15T10:23:45,5Z", "2026-01-15T10:23:45+24:00",
    "2026-01-15T10:23:45+05:60"
  ])("refuses %j", (input) => {
    expect(Option.isNone(Timestamp.parse(input))).toBe(true)
  })
})

describe("Timestamp values", () => {
  it("the zero time is zero in any offset", () => {
    expect(Timestamp.isZero(Timestamp.zero)).toBe(true)
    expect(Timestamp.isZero(ts("0001-01-01T01:00:00+01:00"))).toBe(true)
    expect(Timestamp.isZero(ts("0001-01-01T00:00:00.000000001Z"))).toBe(false)
    expect(Timestamp.isZero(ts("1970-01-01T00:00:00Z"))).toBe(false)
  })

  it("epoch nanos are exact and keep the offset", () => {
    const t = ts("2026-01-15T10:23:45.123456789-08:00")
    expect(Timestamp.toEpochNanos(t)).toBe(1_768_501_425_123_456_789n)
    expect(Timestamp.fromEpochNanos(1_768_501_425_123_456_789n, -480)).toEqual(Option.some(t))
    expect(Timestamp.fromEpochNanos(-1n)).toEqual(Option.some(ts("1969-12-31T23:59:59.999999999Z")))
    expect(Timestamp.toEpochNanos(Timestamp.zero)).toBe(-62_135_596_800_000_000_000n)
    expect(Timestamp.fromEpochNanos(-62_135_596_800_000_000_001n)).toEqual(Option.none())
    expect(Timestamp.fromEpochNanos(0n, 24 * 60)).toEqual(Option.none())
  })

  it.prop("fromEpochNanos and toEpochNanos are inverses", [Timestamp.Timestamp], ([t]) => {
    expect(Timestamp.fromEpochNanos(Timestamp.toEpochNanos(t), Timestamp.offsetMinutes(t))).toEqual(Option.some(t))
  })

  it("orders by instant, whatever the offset", () => {
    const a = ts("2026-01-15T10:00:00-08:00")
    const b = ts("2026-01-15T20:00:00+01:00")
    expect(Timestamp.Order(a, b)).toBe(-1)
    expect(Timestamp.Order(b, a)).toBe(1)
    expect(Timestamp.Order(ts("2026-01-15T18:00:00Z"), a)).toBe(0)
  })

  it("converts to and from Effect's DateTime, to the millisecond, keeping the offset", () => {
    const t = ts("2026-01-15T10:23:45.123456789+05:45")
    const dt = Timestamp.toDateTime(t)
    expect(DateTime.toEpochMillis(dt)).toBe(1_768_451_925_123)
    expect(DateTime.zonedOffset(dt)).toBe(345 * 60_000)
    expect(Timestamp.fromDateTime(dt)).toEqual(Option.some(ts("2026-01-15T10:23:45.123+05:45")))
    expect(Timestamp.fromDateTime(DateTime.unsafeMake(0))).toEqual(Option.some(ts("1970-01-01T00:00:00Z")))
  })

  it.effect("now reads Effect's Clock, so TestClock drives it", () =>
    Effect.gen(function*() {
      expect(yield* Timestamp.now).toBe("1970-01-01T00:00:00Z")
      yield* TestClock.adjust("1500 millis")
      expect(yield* Timestamp.now).toBe("1970-01-01T00:00:01.5Z")
    }))

  it("the schema accepts only canonical text, and TimestampFromString canonicalises", () => {
    expect(S.is(Timestamp.Timestamp)("2026-01-15T10:23:45Z")).toBe(true)
    expect(S.is(Timestamp.Timestamp)("2026-01-15T10:23:45+00:00")).toBe(false)
    expect(S.decodeSync(Timestamp.TimestampFromString)("2026-01-15T10:23:45.10+00:00")).toBe("2026-01-15T10:23:45.1Z")
    expect(() => S.decodeSync(Timestamp.TimestampFromString)("yesterday")).toThrow()
  })

  // The straightforward definition, to check the hand-rolled isCanonical against.
  const reference = (text: string): boolean => {
    const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{0,8}[1-9]))?(Z|[+-]\d\d:\d\d)$/.exec(text)
    if (m === null) return false
    const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number]
    const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
    const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    const zone = m[8]!
    const zoneOk = zone === "Z" || (+zone.slice(1, 3) <= 23 && +zone.slice(4, 6) <= 59 && zone.slice(1) !== "00:00")
    return days !== undefined && day >= 1 && day <= days && hour <= 23 && minute <= 59 && second <= 59 && zoneOk
  }
  const timestampLike = FastCheck.array(
    FastCheck.constantFrom(..."0123456789-T:.Z+-z ", "00", "12", "23", "24", "29", "59", "60", "2024", "0001", "9999"),
    { maxLength: 20 }
  ).map((parts) => parts.join(""))
  const mutated = FastCheck.tuple(Arbitrary.make(Timestamp.Timestamp), FastCheck.nat(), FastCheck.constantFrom(..."0123456789-T:.Z+ "))
    .map(([t, i, c]) => t.slice(0, i % t.length) + c + t.slice((i % t.length) + 1))

  it.prop("isCanonical agrees with the regex definition", [FastCheck.oneof(timestampLike, mutated)], ([text]) => {
    expect(Timestamp.isCanonical(text)).toBe(reference(text))
  }, { fastCheck: { numRuns: 3000 } })

  it.prop("every generated timestamp is canonical", [FastCheck.constant(0), Timestamp.Timestamp], ([, t]) => {
    expect(Timestamp.isCanonical(t)).toBe(true)
    expect(Timestamp.parse(t)).toEqual(Option.some(t))
  })
})
