/**
 * `--json` output in the state file's field order.
 *
 * The decoded state's records list their fields in the order the file had
 * them, with required fields the file lacked after them; a person comparing
 * `--json` with the file expects the file's order, which is the order of
 * the Go structs' fields: the codec's field tables (src/internal/format.ts).
 *
 * @since 0.2.0
 */
import * as Format from "../internal/format.js"
import type * as Schema from "../Schema.js"

/** A record's fields in file order; a nested record or list of records names its own table. */
type Table = ReadonlyArray<string | readonly [string, string]>

const tableOf = (kind: Format.AnyRecordKind): Table =>
  Object.entries(kind.fields).map(([name, field]) => {
    const nested = field.kind.item ?? field.kind
    return Format.records.includes(nested as Format.AnyRecordKind) ? [name, (nested as Format.AnyRecordKind).identifier] : name
  })

const fields: { readonly [identifier: string]: Table } = Object.fromEntries([
  ["State", Format.maps.map((map) => [map.name, map.record.identifier] as const)],
  ...Format.records.map((kind) => [kind.identifier, tableOf(kind)] as const)
])

/** The top-level maps hold records keyed by name; everything else nested is a record or a list of them. */
const mapsOf: ReadonlySet<string> = new Set(["repos", "workspaces", "opencodeSessions", "jobs"])

const orderValue = (value: unknown, table: string, isMap: boolean): unknown => {
  if (value === null || typeof value !== "object") return value
  if (Array.isArray(value)) return value.map((item) => orderRecord(item, table))
  if (isMap) {
    const out: Record<string, unknown> = Object.create(null)
    for (const [key, item] of Object.entries(value)) out[key] = orderRecord(item, table)
    return out
  }
  return orderRecord(value, table)
}

const orderRecord = (record: unknown, table: string): unknown => {
  if (record === null || typeof record !== "object" || Array.isArray(record)) return record
  const source = record as Record<string, unknown>
  // No prototype: a key such as "__proto__" must stay data, as in the decoded maps.
  const out: Record<string, unknown> = Object.create(null)
  for (const field of fields[table] ?? []) {
    const [name, nested] = typeof field === "string" ? [field, undefined] : field
    if (!Object.hasOwn(source, name) || source[name] === undefined) continue
    out[name] = nested === undefined ? source[name] : orderValue(source[name], nested, table === "State" && mapsOf.has(name))
  }
  // Fields the table does not know yet are kept, never dropped; the file writes unknown fields last.
  for (const key of Object.keys(source)) {
    if (key !== "unknownFields" && !Object.hasOwn(out, key) && source[key] !== undefined) out[key] = source[key]
  }
  if (source["unknownFields"] !== undefined) out["unknownFields"] = source["unknownFields"]
  return out
}

/**
 * A copy of `state` as plain objects whose keys follow the file's field
 * order (camelCase names; `unknownFields` last in each record, as the file
 * writes unknown keys after the known ones), ready for `JSON.stringify`.
 *
 * @since 0.2.0
 * @category json
 */
export const stateToOrderedJson = (state: Schema.State): unknown => orderRecord(state, "State")

/**
 * A copy of `job` with its keys in the file's field order (see
 * `stateToOrderedJson`).
 *
 * @since 0.2.0
 * @category json
 */
export const jobToOrderedJson = (job: Schema.Job): unknown => orderRecord(job, "Job")
