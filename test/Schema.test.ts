import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as S from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Schema from "../src/Schema.js"
import { CorruptStateFile } from "../src/StateError.js"
import * as Timestamp from "../src/Timestamp.js"
import { benchReference } from "./fixtures/bench/reference.js"

const goldenDir = path.join(import.meta.dirname, "fixtures", "golden")
const read = (name: string) => fs.readFileSync(path.join(goldenDir, name))
const cases = fs.readdirSync(goldenDir)
  .filter((f) => f.endsWith(".input.json"))
  .map((f) => f.slice(0, -".input.json".length))
  .sort()

/** Cases where this library differs from Go on purpose (spec: "differs ... on purpose"); each is tested below. */
const deliberate = new Set([
  "unknown_keys",
  "int64_limits",
  "case_insensitive_keys",
  "duplicate_keys",
  "duplicate_keys_null_resets",
  "duplicate_keys_triple_slice",
  "timestamps_lenient",
  "timestamps_offset_minute_60",
  "save_error_time_offset_24h"
])

const decodeOrThrow = (input: string | Uint8Array): Schema.State => Either.getOrThrow(Schema.decodeEither(input))
const decodeError = (input: string | Uint8Array): CorruptStateFile =>
  Either.getOrThrowWith(Either.flip(Schema.decodeEither(input, { path: "/s/state.json" })), () => "decoded")

describe("golden vectors from the Go implementation", () => {
  it("has every case of the shared vectors", () => {
    expect(cases.length).toBe(70)
  })

  const roundTrips = cases.filter((c) => !deliberate.has(c) && fs.existsSync(path.join(goldenDir, `${c}.expected.json`)))
  it.each(roundTrips)("%s: load then save writes Go's bytes", (name) => {
    const state = decodeOrThrow(read(`${name}.input.json`))
    expect(Schema.encode(state)).toBe(read(`${name}.expected.json`).toString("utf8"))
  })

  it.each(roundTrips)("%s: Go's output is a fixed point", (name) => {
    const expected = read(`${name}.expected.json`).toString("utf8")
    expect(Schema.encode(decodeOrThrow(expected))).toBe(expected)
  })

  const errors = cases.filter((c) => !deliberate.has(c) && fs.existsSync(path.join(goldenDir, `${c}.error.txt`)))
  it.each(errors)("%s: refused with CorruptStateFile", (name) => {
    const error = decodeError(read(`${name}.input.json`))
    expect(error).toBeInstanceOf(CorruptStateFile)
    expect(error._tag).toBe("CorruptStateFile")
    expect(error.path).toBe("/s/state.json")
  })

  it("covers every case: round trips, errors and deliberate differences", () => {
    expect(roundTrips.length + errors.length + deliberate.size).toBe(cases.length)
  })
})

describe("deliberate differences from Go", () => {
  it("unknown_keys: unknown keys survive at every level, after the known fields, in the order read", () => {
    const input = read("unknown_keys.input.json").toString("utf8")
    const state = decodeOrThrow(input)
    const out = Schema.encode(state)
    const written = JSON.parse(out)
    const original = JSON.parse(input)
    // Every unknown value is written back unchanged.
    expect(written.version).toEqual(original.version)
    expect(written.opencode_daemons).toEqual(original.opencode_daemons)
    expect(written.zzz_trailing_unknown).toBe(true)
    expect(written.repos.r.alias).toBe("rr")
    expect(written.repos.r.extra).toEqual([1, 2, { x: null }])
    expect(written.workspaces["r/ws"].lease).toEqual({ until: "2026-01-16T00:00:00Z" })
    expect(written.opencode_sessions["r/s"].tokens).toBe(12345.5)
    const job = written.jobs.j
    expect(job.priority).toBe(2)
    expect(job).toHaveProperty("notes", null)
    expect(job.opencode_sessions[0].pid).toBe(99)
    expect(job.changes[0].bookmark).toBe("main")
    expect(job.changes[0].commits[0].diffstat).toEqual({ "+": 1, "-": 2 })
    expect(job.changes[0].commits[0].review.score).toBe(0.9)
    expect(job.project_review.reviewer).toBe("bot")
    // Known fields first in Go's order, then unknown ones in the order read.
    expect(Object.keys(written)).toEqual([
      "repos",
      "workspaces",
      "opencode_sessions",
      "jobs",
      "version",
      "opencode_daemons",
      "zzz_trailing_unknown"
    ])
    expect(Object.keys(job).slice(-2)).toEqual(["priority", "notes"])
    // Without the unknown keys, the bytes are exactly Go's.
    const goBytes = read("unknown_keys.expected.json").toString("utf8")
    expect(Schema.encode(stripUnknown(state))).toBe(goBytes)
    // And the output is stable.
    expect(Schema.encode(decodeOrThrow(out))).toBe(out)
  })

  it("unknown_enum_values: kept as unknown values beside the known literals, as Go keeps them", () => {
    const state = decodeOrThrow(read("unknown_enum_values.input.json"))
    const status = state.workspaces["r/ws"]!.status
    expect(status).toBe("BOGUS")
    expect(Schema.isKnownWorkspaceStatus(status)).toBe(false)
    expect(Schema.isKnownWorkspaceStatus("available")).toBe(true)
    expect(Schema.isKnownWorkspaceStatus("")).toBe(true)
  })

  it("int64_limits: integers beyond ±(2^53−1) are refused, never rounded", () => {
    const error = decodeError(read("int64_limits.input.json"))
    expect(error.jsonPath).toBe(`opencode_sessions["r/max"].exit_code`)
    expect(error.expected).toContain("2^53")
    const edge = `{"opencode_sessions": {"s": {"exit_code": 9007199254740991, "duration_seconds": -9007199254740991}}}`
    const session = decodeOrThrow(edge).opencodeSessions["s"]!
    expect(session.exitCode).toBe(Number.MAX_SAFE_INTEGER)
    expect(session.durationSeconds).toBe(-Number.MAX_SAFE_INTEGER)
    expect(decodeError(`{"opencode_sessions": {"s": {"exit_code": 9007199254740993}}}`).jsonPath)
      .toBe(`opencode_sessions["s"].exit_code`)
  })

  it("case_insensitive_keys: a differently-cased key is an unknown key, kept as is", () => {
    const state = decodeOrThrow(read("case_insensitive_keys.input.json"))
    const input = JSON.parse(read("case_insensitive_keys.input.json").toString("utf8"))
    const cased = Object.keys(input).filter((k) => k !== "repos" && k !== "workspaces" && k !== "opencode_sessions" && k !== "jobs")
    expect(cased.length).toBeGreaterThan(0)
    expect(Object.keys(state.unknownFields ?? {})).toEqual(cased)
    const written = JSON.parse(Schema.encode(state))
    for (const key of cased) expect(written[key]).toEqual(input[key])
  })

  it.each(["duplicate_keys", "duplicate_keys_null_resets", "duplicate_keys_triple_slice"])(
    "%s: a repeated key is last-one-wins",
    (name) => {
      const text = read(`${name}.input.json`).toString("utf8")
      const state = decodeOrThrow(text)
      // JSON.parse is the reference for last-one-wins; the decoded state must agree with it.
      expect(Schema.encode(state)).toBe(Schema.encode(decodeOrThrow(JSON.stringify(JSON.parse(text)))))
    }
  )

  it("duplicate keys: the last value of a repeated field is the one kept", () => {
    const state = decodeOrThrow(`{"repos": {"r": {"source_path": "first", "source_path": "last"}}}`)
    expect(state.repos["r"]!.sourcePath).toBe("last")
  })

  it.each(["timestamps_lenient", "timestamps_offset_minute_60", "save_error_time_offset_24h"])(
    "%s: loose time forms are refused at read",
    (name) => {
      const error = decodeError(read(`${name}.input.json`))
      expect(error.expected).toBe("an RFC 3339 timestamp")
      expect(error.jsonPath).toMatch(/_at$/)
    }
  )
})

const stripUnknown = (value: unknown): any => {
  if (Array.isArray(value)) return value.map(stripUnknown)
  if (typeof value !== "object" || value === null) return value
  const out: Record<string, unknown> = Object.create(Object.getPrototypeOf(value))
  for (const [k, v] of Object.entries(value)) if (k !== "unknownFields") out[k] = stripUnknown(v)
  return out
}

describe("keys are data", () => {
  const hostile = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "__defineGetter__", "valueOf"]

  it("map keys named like Object.prototype members round-trip and leave prototypes alone", () => {
    const repos = hostile.map((k) => `${JSON.stringify(k)}: {"source_path": ${JSON.stringify("/src/" + k)}}`).join(", ")
    const text = `{"repos": {${repos}}, "jobs": {"__proto__": {"id": "p", "__proto__": {"polluted": true}}}}`
    const state = decodeOrThrow(text)
    expect(Object.getPrototypeOf(state.repos)).toBe(null)
    for (const key of hostile) {
      expect(Object.hasOwn(state.repos, key)).toBe(true)
      expect(state.repos[key]!.sourcePath).toBe("/src/" + key)
    }
    const job = state.jobs["__proto__"]!
    expect(job.id).toBe("p")
    expect(job.unknownFields!["__proto__"]).toEqual({ polluted: true })
    // Decoded records sit on an empty, frozen prototype that marks them checked, itself on Object.prototype.
    const proto = Object.getPrototypeOf(job)
    expect(Reflect.ownKeys(proto)).toEqual([])
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype)
    expect((job as any).polluted).toBeUndefined()
    expect(({} as any).polluted).toBeUndefined()
    const again = decodeOrThrow(Schema.encode(state))
    expect(Schema.encode(again)).toBe(Schema.encode(state))
    expect(Object.keys(again.repos).sort()).toEqual([...hostile].sort())
    expect(again.jobs["__proto__"]!.unknownFields!["__proto__"]).toEqual({ polluted: true })
  })

  it("a missing key reads as undefined, even one named like a prototype member", () => {
    const state = decodeOrThrow(`{"repos": {}}`)
    expect(state.repos["constructor"]).toBeUndefined()
    expect(state.jobs["toString"]).toBeUndefined()
  })

  it("Effect's own Schema.Record would lose a __proto__ key (why decoding is hand-written)", () => {
    const decoded = S.decodeUnknownSync(S.Record({ key: S.String, value: S.Unknown }))(JSON.parse(`{"__proto__": {"a": 1}}`))
    const ours = decodeOrThrow(`{"repos": {"__proto__": {"source_path": "a"}}}`)
    expect(Object.keys(decoded)).not.toContain("__proto__")
    expect(Object.keys(ours.repos)).toEqual(["__proto__"])
  })
})

describe("CorruptStateFile", () => {
  it("names the JSON path, the expectation and the value found", () => {
    const error = decodeError(`{"jobs": {"job-1": {"changes": [{"commits": {"x": 1}}]}}}`)
    expect(error.jsonPath).toBe(`jobs["job-1"].changes[0].commits`)
    expect(error.expected).toBe("an array")
    expect(error.found).toBe("an object")
    expect(error.line).toBeUndefined()
    expect(error.message).toBe(
      `corrupt /s/state.json at jobs["job-1"].changes[0].commits: expected an array, found an object`
    )
  })

  it("gives line and column for a syntax error", () => {
    const error = decodeError(`{\n  "repos": {\n    "r": {"source_path": "x",}\n  }\n}`)
    expect(error.line).toBe(3)
    expect(error.column).toBe(30)
    expect(error.jsonPath).toBe("$")
    expect(error.message).toBe(`corrupt /s/state.json:3:30: expected a string key, found "}"`)
  })

  it("is a typed failure callers can catchTag", () =>
    Effect.gen(function*() {
      const result = yield* Schema.decode("{", { path: "p" }).pipe(
        Effect.catchTag("CorruptStateFile", (e) => Effect.succeed(`${e.line}:${e.column}`))
      )
      expect(result).toBe("1:2")
    }).pipe(Effect.runSync))

  it("refuses number spellings Go refuses in int fields, even when JSON.parse would hide them", () => {
    for (const spelling of ["1e2", "1.0", "1E+2", "-0.0"]) {
      const error = decodeError(`{"opencode_sessions": {"s": {"exit_code": ${spelling}}}}`)
      expect(error.jsonPath).toBe(`opencode_sessions["s"].exit_code`)
    }
    expect(decodeOrThrow(`{"opencode_sessions": {"s": {"exit_code": -0}}}`).opencodeSessions["s"]!.exitCode).toBe(0)
  })

  it("keeps unknown floats whatever their spelling", () => {
    const state = decodeOrThrow(`{"version": 1.50, "ratio": 2e3}`)
    expect(state.unknownFields).toEqual({ version: 1.5, ratio: 2000 })
  })

  it("refuses nesting deeper than the limit with the typed error, on both parse paths", () => {
    const deep = `{"x": ${"[".repeat(5000)}${"]".repeat(5000)}}`
    expect(decodeError(deep).expected).toMatch(/nesting/)
    // A float forces the token-level parser.
    const deepSlow = `{"y": 1.5, "x": ${"[".repeat(5000)}${"]".repeat(5000)}}`
    expect(decodeError(deepSlow).expected).toMatch(/nesting/)
  })
})

describe("timestamps are lossless", () => {
  it("keeps nanoseconds and the written offset through decode and encode", () => {
    const text = `{"jobs": {"j": {"created_at": "2026-01-15T10:23:45.123456789-08:00", "updated_at": "2026-01-15T10:23:45.1+05:45"}}}`
    const job = decodeOrThrow(text).jobs["j"]!
    expect(job.createdAt).toBe("2026-01-15T10:23:45.123456789-08:00")
    expect(Timestamp.toEpochNanos(job.createdAt)).toBe(1_768_501_425_123_456_789n)
    expect(Timestamp.offsetMinutes(job.updatedAt)).toBe(345)
    expect(Timestamp.isZero(job.startedAt)).toBe(true)
  })
})

describe("derived state", () => {
  const review = (outcome: Schema.ReviewOutcome): Schema.JobReview => ({
    outcome,
    opencodeSessionId: "s",
    reviewedAt: Timestamp.zero
  })
  const commit = (outcome?: Schema.ReviewOutcome): Schema.JobCommit => ({
    commitId: "c",
    draftMessage: "m",
    opencodeSessionId: "s",
    createdAt: Timestamp.zero,
    ...(outcome === undefined ? {} : { review: review(outcome) })
  })
  const change = (...commits: Array<Schema.JobCommit>): Schema.JobChange => ({
    changeId: "ch",
    commits,
    createdAt: Timestamp.zero
  })
  const job = (status: Schema.JobStatus, ...changes: Array<Schema.JobChange>): Schema.Job => {
    const base: Schema.Job = {
      id: "j",
      repo: "r",
      todoId: "t",
      agent: "a",
      stage: "implementing",
      status,
      createdAt: Timestamp.zero,
      startedAt: Timestamp.zero,
      updatedAt: Timestamp.zero,
      completedAt: Timestamp.zero
    }
    const [first, ...rest] = changes
    return first === undefined ? base : { ...base, changes: [first, ...rest] }
  }

  it("a change is complete when its last commit's review is ACCEPT", () => {
    expect(Schema.isComplete(change(commit("REQUEST_CHANGES"), commit("ACCEPT")))).toBe(true)
    expect(Schema.isComplete(change(commit("ACCEPT"), commit("REQUEST_CHANGES")))).toBe(false)
    expect(Schema.isComplete(change(commit()))).toBe(false)
    expect(Schema.isComplete(change())).toBe(false)
    expect(Schema.isComplete({ changeId: "x", createdAt: Timestamp.zero })).toBe(false)
  })

  it("the current change is the last change unless complete; the current commit is its last commit", () => {
    const open = change(commit("REQUEST_CHANGES"), commit())
    const done = change(commit("ACCEPT"))
    expect(Schema.currentChange(job("active", done, open))).toEqual(Option.some(open))
    expect(Schema.currentChange(job("active", open, done))).toEqual(Option.none())
    expect(Schema.currentChange(job("active"))).toEqual(Option.none())
    expect(Schema.currentCommit(job("active", done, open))).toEqual(Option.some(open.commits![1]))
    expect(Schema.currentCommit(job("active", change()))).toEqual(Option.none())
  })

  it("ignores job status: an abandoned job can still have a current change", () => {
    const open = change(commit())
    expect(Schema.currentChange(job("abandoned", open))).toEqual(Option.some(open))
  })

  it("the iteration count is the number of commits", () => {
    expect(Schema.iterationCount(change(commit(), commit(), commit()))).toBe(3)
    expect(Schema.iterationCount({ changeId: "x", createdAt: Timestamp.zero })).toBe(0)
  })
})

describe("StateFromJson", () => {
  it("decodes and encodes through Effect Schema with the same bytes", () => {
    const text = read("full_realistic.expected.json").toString("utf8")
    const state = S.decodeSync(Schema.StateFromJson)(text)
    expect(S.encodeSync(Schema.StateFromJson)(state)).toBe(text)
    expect(Either.isLeft(S.decodeEither(Schema.StateFromJson)("[]"))).toBe(true)
  })

  it("decoded states satisfy the State schema", () => {
    for (const name of ["full_realistic", "empty_entities", "unknown_keys", "strings_special", "exit_code_variants"]) {
      const state = decodeOrThrow(read(`${name}.input.json`))
      expect(S.is(Schema.State)(state)).toBe(true)
    }
  })
})

describe("the benchmark shape", () => {
  it("decodes and re-encodes the 1 000-job file from the Go tool byte for byte", () => {
    const bytes = benchReference(1000)
    const state = decodeOrThrow(bytes)
    expect(Object.keys(state.jobs).length).toBe(1000)
    expect(Schema.encode(state)).toBe(bytes.toString("utf8"))
  })
})

describe("paths of failures deep inside a value", () => {
  it("a cycle's InvalidState names both ends of its path and elides the middle", () => {
    const self: Record<string, unknown> = {}
    self["self"] = self
    const state = { ...Schema.empty, unknownFields: { hostile: self } } as unknown as Schema.State
    const error = Either.getOrThrowWith(Either.flip(Effect.runSync(Effect.either(Schema.normalize(state)))), () => "normalized")
    expect(error._tag).toBe("InvalidState")
    expect(error.jsonPath.startsWith("hostile.self.self")).toBe(true)
    expect(error.jsonPath).toMatch(/…\(\d+ more\)…/)
    expect(error.jsonPath.length).toBeLessThan(300)
    expect(error.found).toContain("cycle")
  })
})

describe("normalize trusts only the maps it or decode made", () => {
  it("an unchanged decoded map is handed back as it is; a caller's frozen null-prototype map is still checked", () => {
    const state = decodeOrThrow(Buffer.from(JSON.stringify({ repos: { a: { source_path: "/a" } }, jobs: {} })))
    const normalized = Effect.runSync(Schema.normalize({ ...state, jobs: {} }))
    expect(normalized.repos).toBe(state.repos)
    // Frozen, no prototype, like the maps decode builds, but holding a record nobody checked.
    const forged = Object.freeze(Object.assign(Object.create(null), { b: { sourcePath: 42 } }))
    const error = Either.getOrThrowWith(
      Either.flip(Effect.runSync(Effect.either(Schema.normalize({ ...state, repos: forged })))),
      () => "normalized"
    )
    expect(error._tag).toBe("InvalidState")
    expect(error.jsonPath).toBe(`repos["b"].source_path`)
  })
})
