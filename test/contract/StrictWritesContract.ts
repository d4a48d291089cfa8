/**
 * Issue 10's hostile states, handed to a store over any backend: every write
 * path refuses what the file cannot hold with `InvalidState` naming the JSON
 * path, leaves the stored bytes as they were, releases the exclusion and
 * leaves the store usable; what the file can hold in one way only is
 * normalised so that the writer's `load` and a fresh store's agree.
 * `strict-writes.test.ts` runs it over the file backend (a fresh temp
 * directory per test) and the memory backend.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"
import * as StateSchema from "../../src/Schema.js"
import * as Store from "../../src/Store.js"
import * as Timestamp from "../../src/Timestamp.js"

const golden = (name: string) =>
  fs.readFileSync(path.join(import.meta.dirname, "..", "fixtures", "golden", name))

/** The Go tool's own realistic file, decoded: every kind of record, nested commits and reviews. */
export const realistic: StateSchema.State = (() => {
  const decoded = StateSchema.decodeEither(golden("full_realistic.expected.json"))
  if (decoded._tag === "Left") throw new Error(String(decoded.left))
  return decoded.right
})()

const ts = (text: string) => text as Timestamp.Timestamp

export const job = (id: string): StateSchema.Job => ({
  id,
  repo: "r",
  todoId: "t",
  agent: "opencode",
  stage: "implementing",
  status: "active",
  createdAt: Timestamp.zero,
  startedAt: Timestamp.zero,
  updatedAt: Timestamp.zero,
  completedAt: Timestamp.zero
})

/** The base every case starts from: the realistic file plus a plain job `j`. */
export const base: StateSchema.State = { ...realistic, jobs: { ...realistic.jobs, j: job("j") } }

const withJob = (state: StateSchema.State, patch: Record<string, unknown>): StateSchema.State =>
  ({ ...state, jobs: { ...state.jobs, j: { ...state.jobs["j"]!, ...patch } } }) as StateSchema.State

const withUnknown = (state: StateSchema.State, value: unknown): StateSchema.State =>
  ({ ...state, unknownFields: { ...state.unknownFields, hostile: value } }) as StateSchema.State

const cycle = (): unknown => {
  const a: Record<string, unknown> = { x: 1 }
  a["self"] = a
  return a
}

const firstRealJob = Object.keys(realistic.jobs).find((id) => (realistic.jobs[id]!.changes?.length ?? 0) > 0)!

/** A case the file cannot hold: `at` is the JSON path `InvalidState` must name. */
export interface Hostile {
  readonly name: string
  readonly make: (state: StateSchema.State) => StateSchema.State
  readonly at: string
  /** `at` is where the path starts (a cycle is reported where decode's depth limit is reached). */
  readonly prefix?: true
}

/** Whether an `InvalidState`'s path is the one a case must name. */
export const names = (c: Hostile, jsonPath: string): boolean => c.prefix ? jsonPath.startsWith(c.at) : jsonPath === c.at

export const hostile: ReadonlyArray<Hostile> = [
  { name: "createdAt \"yesterday\"", make: (s) => withJob(s, { createdAt: ts("yesterday") }), at: `jobs["j"].created_at` },
  {
    name: "JSON injection through a timestamp",
    make: (s) => withJob(s, { createdAt: ts("x\", \"status\": \"bogus") }),
    at: `jobs["j"].created_at`
  },
  { name: "a status never read (invented)", make: (s) => withJob(s, { status: "bogus" }), at: `jobs["j"].status` },
  { name: "a stage never read (invented)", make: (s) => withJob(s, { stage: "deploying" }), at: `jobs["j"].stage` },
  {
    name: "a review outcome never read (invented)",
    make: (s) => withJob(s, { projectReview: { outcome: "MAYBE", opencodeSessionId: "x", reviewedAt: Timestamp.zero } }),
    at: `jobs["j"].project_review.outcome`
  },
  {
    name: "a workspace status never read (invented)",
    make: (s) => {
      const [key, ws] = Object.entries(s.workspaces)[0]!
      return { ...s, workspaces: { ...s.workspaces, [key]: { ...ws, status: "rented" } } } as StateSchema.State
    },
    at: `workspaces["users-amonks-code-incrementum/ws-001"].status`
  },
  { name: "status: undefined", make: (s) => withJob(s, { status: undefined }), at: `jobs["j"].status` },
  { name: "a required field deleted", make: (s) => withJob(s, { todoId: undefined }), at: `jobs["j"].todo_id` },
  {
    name: "durationSeconds: 1.5",
    make: (s) => {
      const [key, session] = Object.entries(s.opencodeSessions)[0]!
      return { ...s, opencodeSessions: { ...s.opencodeSessions, [key]: { ...session, durationSeconds: 1.5 } } }
    },
    at: `opencode_sessions["users-amonks-code-incrementum/ses_4a1b2c3d4e5f"].duration_seconds`
  },
  {
    name: "exitCode: 0.5",
    make: (s) => {
      const [key, session] = Object.entries(s.opencodeSessions)[0]!
      return { ...s, opencodeSessions: { ...s.opencodeSessions, [key]: { ...session, exitCode: 0.5 } } }
    },
    at: `opencode_sessions["users-amonks-code-incrementum/ses_4a1b2c3d4e5f"].exit_code`
  },
  { name: "an unknown field holding 2 ** 60", make: (s) => withUnknown(s, 2 ** 60), at: "hostile" },
  { name: "NaN", make: (s) => withUnknown(s, NaN), at: "hostile" },
  { name: "Infinity", make: (s) => withUnknown(s, Infinity), at: "hostile" },
  { name: "a bigint (10n)", make: (s) => withUnknown(s, 10n), at: "hostile" },
  { name: "a function", make: (s) => withUnknown(s, () => 1), at: "hostile" },
  { name: "a symbol", make: (s) => withUnknown(s, Symbol("s")), at: "hostile" },
  { name: "undefined in unknownFields", make: (s) => withUnknown(s, undefined), at: "hostile" },
  // The path names where the cycle was found: under `hostile`, at decode's depth limit.
  { name: "a cycle in unknownFields", make: (s) => withUnknown(s, cycle()), at: "hostile.self.self", prefix: true },
  { name: "a class instance in unknownFields", make: (s) => withUnknown(s, new Date(0)), at: "hostile" },
  { name: "a number where a string belongs", make: (s) => withJob(s, { repo: 5 }), at: `jobs["j"].repo` },
  { name: "jobs: null", make: (s) => ({ ...s, jobs: null }) as unknown as StateSchema.State, at: "jobs" },
  { name: "jobs: an array", make: (s) => ({ ...s, jobs: [job("j")] }) as unknown as StateSchema.State, at: "jobs" },
  { name: "a job that is null", make: (s) => ({ ...s, jobs: { ...s.jobs, j: null } }) as unknown as StateSchema.State, at: `jobs["j"]` },
  { name: "an extra property on a job", make: (s) => withJob(s, { priority: 3 }), at: `jobs["j"].priority` },
  { name: "an extra property on the state", make: (s) => ({ ...s, extra: 1 }) as StateSchema.State, at: "extra" },
  {
    name: "an unknownFields key colliding with a known key",
    make: (s) => withJob(s, { unknownFields: { status: "completed" } }),
    at: `jobs["j"].status`
  },
  {
    name: "a top-level unknownFields key colliding with a map",
    make: (s) => ({ ...s, unknownFields: { jobs: {} } }),
    at: "jobs"
  },
  {
    name: "a nested commit with a bad timestamp",
    make: (s) => {
      const real = s.jobs[firstRealJob]!
      const [change, ...rest] = real.changes!
      const bad = { ...change!, commits: [{ ...change!.commits![0]!, createdAt: ts("2026-02-30T00:00:00Z") }] }
      return { ...s, jobs: { ...s.jobs, [firstRealJob]: { ...real, changes: [bad, ...rest] } } }
    },
    at: `jobs["${firstRealJob}"].changes[0].commits[0].created_at`
  },
  {
    // Records decode returned are trusted by identity: one of another kind must still be refused.
    name: "a record from load put in a map of another kind",
    make: (s) => ({ ...s, repos: { ...s.repos, x: s.jobs["j"] as unknown as StateSchema.RepoInfo } }),
    at: `repos["x"].source_path`
  },
  {
    // A job has every field a session requires: it must not pass as one.
    name: "a job from load put in opencodeSessions",
    make: (s) => ({
      ...s,
      opencodeSessions: { ...s.opencodeSessions, x: s.jobs["j"] as unknown as StateSchema.OpencodeSession }
    }),
    at: `opencode_sessions["x"].todoId`
  },
  {
    name: "a hole in a changes list",
    make: (s) => {
      const real = s.jobs[firstRealJob]!
      // eslint-disable-next-line no-sparse-arrays
      return { ...s, jobs: { ...s.jobs, [firstRealJob]: { ...real, changes: [real.changes![0]!, , ] as never } } }
    },
    at: `jobs["${firstRealJob}"].changes[1]`
  },
  {
    name: "a lone surrogate in a map key",
    make: (s) => ({ ...s, repos: { ...s.repos, ["bad\ud800"]: { sourcePath: "/x" } } }),
    at: `repos["bad\\ud800"]`
  }
]

/** A case the file can hold in one way only: the write succeeds, and reads back as `expect`. */
export interface Normalised {
  readonly name: string
  readonly make: (state: StateSchema.State) => StateSchema.State
  readonly check: (state: StateSchema.State) => void
}

export const normalised: ReadonlyArray<Normalised> = [
  {
    name: "empty feedback is no feedback",
    make: (s) => withJob(s, { feedback: "" }),
    check: (s) => expect("feedback" in s.jobs["j"]!).toBe(false)
  },
  {
    name: "an empty changes list is no list",
    make: (s) => withJob(s, { changes: [] }),
    check: (s) => expect("changes" in s.jobs["j"]!).toBe(false)
  },
  {
    name: "a valid but non-canonical timestamp is written canonically",
    make: (s) => withJob(s, { createdAt: ts("2026-01-15T10:00:00.500000000+00:00") }),
    check: (s) => expect(s.jobs["j"]!.createdAt).toBe("2026-01-15T10:00:00.5Z")
  },
  {
    name: "-0 is 0",
    make: (s) => {
      const [key, session] = Object.entries(s.opencodeSessions)[0]!
      return { ...s, opencodeSessions: { ...s.opencodeSessions, [key]: { ...session, exitCode: -0 } } }
    },
    check: (s) => expect(Object.is(Object.values(s.opencodeSessions)[0]!.exitCode, 0)).toBe(true)
  },
  {
    name: "a record from load inside unknownFields is a JSON object of its fields",
    make: (s) => withUnknown(s, s.jobs["j"]),
    check: (s) => expect(s.unknownFields?.["hostile"]).toEqual({ ...job("j") })
  },
  {
    name: "purpose \"\" is no purpose",
    make: (s) => {
      const [key, ws] = Object.entries(s.workspaces)[0]!
      return { ...s, workspaces: { ...s.workspaces, [key]: { ...ws, purpose: "" } } }
    },
    check: (s) => expect("purpose" in Object.values(s.workspaces)[0]!).toBe(false)
  }
]

/** The stored bytes, as a backend hands them to a fresh reader (a backend of records: its state's encoding). */
export const storedBytes = (backend: Store.Backend) =>
  Effect.scoped(Effect.map(backend.read(undefined), (content) => {
    switch (content?._tag) {
      case "Bytes":
        return Buffer.from(content.bytes).toString("latin1")
      case "Decoded":
        return StateSchema.encode(content.state)
      default:
        return String(content?._tag)
    }
  })).pipe(Effect.orDie)

const writePaths = (store: Store.StateStoreService, make: (s: StateSchema.State) => StateSchema.State) =>
  [
    ["update", store.update(make)],
    ["updateEffect", store.updateEffect((s) => Effect.succeed(make(s)))],
    ["modify", store.modify((s) => [1, make(s)] as const)],
    ["modifyEffect", store.modifyEffect((s) => Effect.succeed([1, make(s)] as const))],
    ["save", Effect.flatMap(store.load, (s) => store.save(make(s)))]
  ] as const

const recordMaps = ["repos", "workspaces", "opencodeSessions", "jobs"] as const

/**
 * `modifyRecord` of the one record `make` changes, when that is all it
 * changes (a case that touches the top level has no record write).
 */
const recordWritePath = (store: Store.StateStoreService, make: (s: StateSchema.State) => StateSchema.State) =>
  Effect.map(store.load, (s) => {
    const next = make(s)
    const isMap = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v)
    if (!recordMaps.every((map) => isMap(next[map]))) return []
    const changed = recordMaps.flatMap((map) => {
      const before: Record<string, unknown> = s[map]
      const after: Record<string, unknown> = next[map]
      return Object.keys(after).filter((key) => after[key] !== before[key]).map((key) => ({ map, key, record: after[key] }))
    })
    const one = changed[0]
    if (changed.length !== 1 || one === undefined || next.unknownFields !== s.unknownFields) return []
    const write = store.modifyRecord(one.map, one.key, () =>
      Effect.succeed([1, Option.some(one.record as Store.RecordIn<typeof one.map>)] as const))
    return [["modifyRecord", write] as const]
  })

export const strictWritesContract = (name: string, makeBackend: Effect.Effect<Store.Backend, never, Scope.Scope>) =>
  describe(`strict writes: ${name}`, () => {
    const setup = Effect.gen(function*() {
      const backend = yield* makeBackend
      const store = yield* Store.makeWith(backend)
      yield* store.save(base)
      const freshLoad = Effect.scoped(Effect.flatMap(Store.makeWith(backend), (fresh) => fresh.load))
      return { backend, store, freshLoad }
    })

    for (const c of hostile) {
      it.scoped(`${c.name}: InvalidState at ${c.at} on every write path, bytes unchanged, store usable`, () =>
        Effect.gen(function*() {
          const { backend, freshLoad, store } = yield* setup
          const before = yield* storedBytes(backend)
          const paths = [...writePaths(store, c.make), ...yield* recordWritePath(store, c.make)]
          // A case inside one record is refused by the record write too.
          if (/^(jobs|workspaces|opencode_sessions)\[/.test(c.at) && !c.prefix) {
            expect(paths.map(([path]) => path)).toContain("modifyRecord")
          }
          for (const [path, write] of paths) {
            const error = yield* Effect.flip(write)
            expect(error._tag, path).toBe("InvalidState")
            if (error._tag !== "InvalidState") continue
            expect(names(c, error.jsonPath), `${path}: ${error.message.slice(0, 300)}`).toBe(true)
            expect(error.message).toContain("expected")
            expect(yield* storedBytes(backend), path).toBe(before)
          }
          // The exclusion was released and nothing is cached wrong: a following update lands.
          yield* store.update((s) => ({ ...s, repos: { ...s.repos, after: { sourcePath: "/after" } } }))
          const loaded = yield* store.load
          expect(loaded.repos["after"]).toEqual({ sourcePath: "/after" })
          expect(yield* freshLoad).toEqual(loaded)
        }))
    }

    for (const c of normalised) {
      it.scoped(`${c.name}: written, and the writer's load equals a fresh store's`, () =>
        Effect.gen(function*() {
          const { freshLoad, store } = yield* setup
          yield* store.update(c.make)
          const loaded = yield* store.load
          c.check(loaded)
          const fresh = yield* freshLoad
          c.check(fresh)
          expect(fresh).toEqual(loaded)
          // save of the same unnormalised state is the same bytes as what is stored: no change.
          yield* store.save(c.make(loaded))
          expect(yield* freshLoad).toEqual(loaded)
        }))
    }

    it.scoped("a record from load is frozen: mutating it throws, and nothing wrong is written", () =>
      Effect.gen(function*() {
        const { freshLoad, store } = yield* setup
        const loaded = yield* store.load
        const record = loaded.jobs["j"]!
        expect(Object.isFrozen(record)).toBe(true)
        expect(() => {
          ;(record as { status: string }).status = "completed"
        }).toThrow(TypeError)
        expect(() => {
          ;(loaded.jobs as Record<string, unknown>)["k"] = job("k")
        }).toThrow(TypeError)
        const nested = loaded.jobs[firstRealJob]!.changes![0]!.commits![0]!
        expect(() => {
          ;(nested as { commitId: string }).commitId = "changed"
        }).toThrow(TypeError)
        yield* store.update((s) => ({ ...s, jobs: { ...s.jobs } }))
        expect((yield* freshLoad).jobs["j"]!.status).toBe("active")
      }))

    it.scoped("a record written by the caller, then mutated in place and written again, is written as mutated", () =>
      Effect.gen(function*() {
        const { freshLoad, store } = yield* setup
        // The caller's own (unfrozen) object: the store must not cache its bytes by identity.
        const mine = { ...job("m") } as { -readonly [K in keyof StateSchema.Job]: StateSchema.Job[K] }
        yield* store.update((s) => ({ ...s, jobs: { ...s.jobs, m: mine } }))
        mine.status = "completed"
        yield* store.update((s) => ({ ...s, jobs: { ...s.jobs, m: mine } }))
        expect((yield* store.load).jobs["m"]!.status).toBe("completed")
        expect((yield* freshLoad).jobs["m"]!.status).toBe("completed")
      }))

    it.scoped("Schema.normalize agrees with the store on every case", () =>
      Effect.gen(function*() {
        for (const c of hostile) {
          const error = yield* Effect.flip(StateSchema.normalize(c.make(base)))
          expect(error._tag, c.name).toBe("InvalidState")
          expect(names(c, error.jsonPath), `${c.name}: ${error.jsonPath.slice(0, 300)}`).toBe(true)
        }
        for (const c of normalised) c.check(yield* StateSchema.normalize(c.make(base)))
      }))
  })
