/**
 * `--json` output in the state file's field order.
 *
 * The decoded state's records are built with their required fields first,
 * so `JSON.stringify` of them would move optional fields (`purpose`,
 * `changes`, …) after the others. A person comparing `--json` with the
 * file expects the file's order, which is the order of the Go structs'
 * fields.
 *
 * TODO(codec field table): this is the one place in the CLI that knows
 * that order. When the codec exposes its per-record field tables
 * (src/internal/codec.ts / src/Schema.ts), replace `fields` below with
 * them; `toOrderedJson` stays as it is.
 *
 * @since 0.2.0
 */
import type * as Schema from "../Schema.js"

type Record_ =
  | "State"
  | "RepoInfo"
  | "WorkspaceInfo"
  | "OpencodeSession"
  | "JobReview"
  | "JobCommit"
  | "JobChange"
  | "JobOpencodeSession"
  | "Job"

/** A record's fields in file order; a nested record or list of records names its own table. */
type Table = ReadonlyArray<string | readonly [string, Record_]>

const fields: { readonly [R in Record_]: Table } = {
  State: [["repos", "RepoInfo"], ["workspaces", "WorkspaceInfo"], ["opencodeSessions", "OpencodeSession"], [
    "jobs",
    "Job"
  ]],
  RepoInfo: ["sourcePath"],
  WorkspaceInfo: [
    "name",
    "repo",
    "path",
    "purpose",
    "rev",
    "status",
    "acquiredByPid",
    "createdAt",
    "updatedAt",
    "acquiredAt",
    "provisioned"
  ],
  OpencodeSession: [
    "id",
    "repo",
    "status",
    "createdAt",
    "startedAt",
    "updatedAt",
    "completedAt",
    "exitCode",
    "durationSeconds",
    "logPath"
  ],
  JobReview: ["outcome", "comments", "opencodeSessionId", "reviewedAt"],
  JobCommit: ["commitId", "draftMessage", "testsPassed", ["review", "JobReview"], "opencodeSessionId", "createdAt"],
  JobChange: ["changeId", ["commits", "JobCommit"], "createdAt"],
  JobOpencodeSession: ["purpose", "id"],
  Job: [
    "id",
    "repo",
    "todoId",
    "agent",
    "implementationModel",
    "codeReviewModel",
    "projectReviewModel",
    "stage",
    "feedback",
    ["opencodeSessions", "JobOpencodeSession"],
    ["changes", "JobChange"],
    ["projectReview", "JobReview"],
    "status",
    "createdAt",
    "startedAt",
    "updatedAt",
    "completedAt"
  ]
}

/** The top-level maps hold records keyed by name; everything else nested is a record or a list of them. */
const mapsOf: ReadonlySet<string> = new Set(["repos", "workspaces", "opencodeSessions", "jobs"])

const orderValue = (value: unknown, table: Record_, isMap: boolean): unknown => {
  if (value === null || typeof value !== "object") return value
  if (Array.isArray(value)) return value.map((item) => orderRecord(item, table))
  if (isMap) {
    const out: Record<string, unknown> = Object.create(null)
    for (const [key, item] of Object.entries(value)) out[key] = orderRecord(item, table)
    return out
  }
  return orderRecord(value, table)
}

const orderRecord = (record: unknown, table: Record_): unknown => {
  if (record === null || typeof record !== "object" || Array.isArray(record)) return record
  const source = record as Record<string, unknown>
  // No prototype: a key such as "__proto__" must stay data, as in the decoded maps.
  const out: Record<string, unknown> = Object.create(null)
  for (const field of fields[table]) {
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
