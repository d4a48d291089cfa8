/**
 * What `Job`, `Workspace` and `Session` share: validated constructors with
 * Go's zero values, and reads, writes and store-level updates of one record
 * of a state's maps.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as S from "effect/Schema"
import type * as Schema from "../Schema.js"
import { NotFound } from "../StateError.js"
import type { StateError } from "../StateError.js"
import { StateStore } from "../Store.js"
import * as Timestamp from "../Timestamp.js"
import * as Format from "./format.js"
import { Failure, formatPath } from "./record.js"

/** The write check of each record schema: a constructor refuses what the store would. */
const checks = new Map<unknown, (value: unknown) => unknown>(
  Format.records.map((kind) => [kind.struct, (value: unknown) => kind.check(value, 3)])
)

/**
 * A constructor that fills in `defaults` (Go's zero values), then checks the
 * whole record against `schema`, throwing a `ParseError` that names every
 * bad field, as `Schema.Struct(...).make` does, then against the rules every
 * write applies (an enum value must be one this version knows). The record
 * returned is the one the store would write: normalised and frozen. Unknown keys are refused too:
 * at run time they would otherwise vanish without a word.
 */
export const constructor = <A, K extends keyof A>(
  schema: S.Schema<A, any>,
  defaults: Omit<A, K>
): (input: MakeInput<A, K>) => A => {
  const validate = S.validateSync(schema, { errors: "all", onExcessProperty: "error" })
  const check = checks.get(schema)
  return (input) => {
    const value = validate({ ...defaults, ...input })
    if (check === undefined) return value
    try {
      // The schema lets any string through as an enum's unknown value; the write check does not.
      return check(value) as A
    } catch (e) {
      if (!(e instanceof Failure)) throw e
      const where = formatPath(e.path)
      throw new ParseResult.ParseError({
        issue: new ParseResult.Type(schema.ast, value, `${where}: expected ${e.expected}, found ${e.found}`)
      })
    }
  }
}

/** The fields `K` of a record, and any others it should not take Go's zero value for. */
export type MakeInput<A, K extends keyof A> = Pick<A, K> & Partial<Omit<A, K>>

/** The state's maps of records that have an `updatedAt`, and the name of their kind. */
export const collections = {
  jobs: "job",
  workspaces: "workspace",
  opencodeSessions: "session"
} as const

/** The state's maps of records that have an `updatedAt`. */
export type Collection = keyof typeof collections

/** The record type of a map. */
export type RecordOf<K extends Collection> = Schema.State[K][string]

/** The record at `key`; never one inherited from `Object.prototype`. */
export const get = <K extends Collection>(state: Schema.State, collection: K, key: string): Option.Option<RecordOf<K>> =>
  Object.hasOwn(state[collection], key) ? Option.some(state[collection][key] as RecordOf<K>) : Option.none()

/**
 * `state` with `record` at `key`. Maps stay prototype-free, as `decode`
 * builds them, so a key such as `__proto__` is plain data; the other records
 * keep their identity, so the encoder reuses their text.
 */
export const put = <K extends Collection>(
  state: Schema.State,
  collection: K,
  key: string,
  record: RecordOf<K>
): Schema.State => {
  const map: Record<string, RecordOf<K>> = Object.assign(Object.create(null), state[collection])
  map[key] = record
  return { ...state, [collection]: map } as Schema.State
}

/**
 * One store update of the record at `key`: fails with `NotFound` (writing
 * nothing) when there is none; stamps `updatedAt` with `Timestamp.now` when
 * `f` changed the record but left `updatedAt` as it was, as the Go tool
 * does on every edit; writes nothing when `f` returns the record it was
 * given. Returns the record as written.
 */
export const updateEffect = <K extends Collection, E, R>(
  collection: K,
  key: string,
  f: (record: RecordOf<K>) => Effect.Effect<RecordOf<K>, E, R>
): Effect.Effect<RecordOf<K>, E | NotFound | StateError, R | StateStore> =>
  Effect.flatMap(StateStore, (store) =>
    // One record's update, so the store writes (and, with a record backend, costs) that record alone.
    store.modifyRecord(collection, key, (found): Effect.Effect<readonly [RecordOf<K>, Option.Option<RecordOf<K>>], E | NotFound, R> =>
      Option.match(found, {
        onNone: () => Effect.fail(new NotFound({ kind: collections[collection], key })),
        onSome: (before) =>
          Effect.flatMap(f(before), (after) => {
            if (after === before) return Effect.succeed([before, found] as const)
            const stamped = after.updatedAt === before.updatedAt
              ? Effect.map(Timestamp.now, (now): RecordOf<K> => ({ ...after, updatedAt: now }))
              : Effect.succeed(after)
            return Effect.map(stamped, (record) => [record, Option.some(record)] as const)
          })
      })
    ))
