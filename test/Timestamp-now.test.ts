import { afterEach, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as Timestamp from "../src/Timestamp.js"

const zone = process.env["TZ"]
afterEach(() => {
  process.env["TZ"] = zone
})

describe("Timestamp.now", () => {
  it.effect("writes the local offset at that instant, as Go's time.Now() marshals", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 10, 30, 9, 41, 40))
      process.env["TZ"] = "America/Los_Angeles"
      expect(yield* Timestamp.now).toBe("2026-11-30T01:41:40-08:00")
      process.env["TZ"] = "Asia/Kolkata"
      expect(yield* Timestamp.now).toBe("2026-11-30T15:11:40+05:30")
      process.env["TZ"] = "UTC"
      expect(yield* Timestamp.now).toBe("2026-11-30T09:41:40Z")
      // Summer time: the offset is the one in force at that instant, not today's.
      yield* TestClock.setTime(Date.UTC(2026, 6, 1, 12))
      process.env["TZ"] = "Europe/Paris"
      expect(yield* Timestamp.now).toBe("2026-07-01T14:00:00+02:00")
    }))

  it.effect("denotes the clock's instant whatever the zone", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_764_495_700_000)
      process.env["TZ"] = "Pacific/Chatham"
      const ts = yield* Timestamp.now
      expect(Timestamp.toEpochNanos(ts)).toBe(1_764_495_700_000n * 1_000_000n)
      expect(Timestamp.offsetMinutes(ts)).toBe(-new Date(1_764_495_700_000).getTimezoneOffset())
    }))
})
