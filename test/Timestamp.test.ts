import { describe, expect, it } from "@effect/vitest"
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

  it.prop("every generated timestamp is canonical", [FastCheck.constant(0), Timestamp.Timestamp], ([, t]) => {
    expect(Timestamp.isCanonical(t)).toBe(true)
    expect(Timestamp.parse(t)).toEqual(Option.some(t))
  })
})
