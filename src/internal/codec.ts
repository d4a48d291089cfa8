/**
 * The state codec: text ⇄ State, byte-compatible with the Go tool.
 *
 * Decoding takes a fast path for ordinary files: `JSON.parse` (native) then
 * a hand-written walk that validates and converts each record. A cheap scan
 * of the text first looks for the few spellings `JSON.parse` would hide
 * (a number with a fraction or exponent right after a key, an escape inside
 * a timestamp, an escaped surrogate); only then does the slower
 * token-level parser in `json.ts` run. Syntax errors are located with that
 * parser too.
 */
import * as Either from "effect/Either"
import { isUtf8 } from "node:buffer"
import type * as Schema from "../Schema.js"
import { CorruptStateFile, type InvalidState } from "../StateError.js"
import * as Timestamp from "../Timestamp.js"
import * as Json from "./json.js"

type Mutable<T> = { -readonly [K in keyof T]: T[K] }
type Dict = Record<string, unknown>

// ---------------------------------------------------------------------------
// Decoding

/** A decoded state, and whether the file held legacy session prompts (which it must lose). */
export interface Decoded {
  readonly state: Schema.State
  readonly hadLegacyPrompt: boolean
}

class Failure {
  readonly path: Array<string> = []
  constructor(readonly expected: string, readonly found: string) {}
}

const field = (key: string) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`
const entry = (key: string) => `[${JSON.stringify(key)}]`

const rethrow = (e: unknown, segment: string): never => {
  if (e instanceof Failure) e.path.push(segment)
  throw e
}

const describe = (v: unknown): string => {
  if (v === null) return "null"
  if (Array.isArray(v)) return "an array"
  switch (typeof v) {
    case "string":
      return `the string ${JSON.stringify(v.length > 60 ? v.slice(0, 60) + "…" : v)}`
    case "number":
      return `the number ${v}`
    case "boolean":
      return String(v)
    default:
      return "an object"
  }
}

const isObject = (v: unknown): v is Dict => typeof v === "object" && v !== null && !Array.isArray(v)

/** Decoding options for one run: set only on the slow path. */
let spellings: Json.Spellings | undefined
let legacyPrompt = false

const str = (v: unknown): string => {
  if (typeof v === "string") return v
  if (v === null) return ""
  throw new Failure("a string", describe(v))
}

const bool = (v: unknown): boolean => {
  if (typeof v === "boolean") return v
  if (v === null) return false
  throw new Failure("a boolean", describe(v))
}

/** An integer as Go's `int` reads it, limited to what a JS number holds exactly. Null reads as unset. */
const int = (owner: Dict, key: string, v: unknown): number | undefined => {
  if (v === null) return undefined
  if (typeof v !== "number") throw new Failure("an integer", describe(v))
  if (spellings?.get(owner)?.get(key) === "fraction-or-exponent") {
    throw new Failure("an integer without fraction or exponent", `the number ${v} written with one`)
  }
  if (!Number.isSafeInteger(v)) {
    throw new Failure(
      "an integer within ±(2^53−1)",
      Number.isInteger(v) ? "an integer too large to hold exactly" : `the number ${v}`
    )
  }
  return v === 0 ? 0 : v // -0 reads as 0, as in Go
}

const time = (owner: Dict, key: string, v: unknown): Timestamp.Timestamp => {
  if (v === null) return Timestamp.zero
  if (typeof v !== "string") throw new Failure("an RFC 3339 timestamp string", describe(v))
  if (spellings?.get(owner)?.get(key) === "escaped") {
    throw new Failure("an RFC 3339 timestamp without escapes", describe(v))
  }
  if (Timestamp.isCanonical(v)) return v as Timestamp.Timestamp
  const parsed = Timestamp.parse(v)
  if (parsed._tag === "None") throw new Failure("an RFC 3339 timestamp", describe(v))
  return parsed.value
}

const literal = <A extends string>(allowed: ReadonlySet<string>, v: unknown): A => {
  const s = str(v)
  if (allowed.has(s)) return s as A
  throw new Failure(`one of ${[...allowed].filter((a) => a !== "").map((a) => JSON.stringify(a)).join(", ")}`, describe(v))
}

const workspaceStatuses = new Set(["available", "acquired", ""])
const sessionStatuses = new Set(["active", "completed", "failed", "killed", ""])
const jobStages = new Set(["implementing", "testing", "reviewing", "committing", ""])
const jobStatuses = new Set(["active", "completed", "failed", "abandoned", ""])
const outcomes = new Set(["ACCEPT", "REQUEST_CHANGES", "ABANDON", ""])

/** A record's object, or `{}` for `null` (Go decodes null into the zero value). */
const record = (v: unknown): Dict => {
  if (isObject(v)) return v
  if (v === null) return {}
  throw new Failure("an object", describe(v))
}

const array = (v: unknown): ReadonlyArray<unknown> | undefined => {
  if (Array.isArray(v)) return v
  if (v === null) return undefined
  throw new Failure("an array", describe(v))
}

/** Checks an unknown value so it can be kept and written back exactly. */
const jsonValue = (v: unknown, depth: number): Schema.JsonValue => {
  if (typeof v === "number") {
    if (Number.isInteger(v) && !Number.isSafeInteger(v)) {
      throw new Failure("a number JavaScript holds exactly", "an integer beyond ±(2^53−1)")
    }
    return v
  }
  if (typeof v !== "object" || v === null) return v as Schema.JsonValue
  if (depth > Json.maxDepth) throw new Failure(`nesting at most ${Json.maxDepth} deep`, "deeper nesting")
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      try {
        jsonValue(v[i], depth + 1)
      } catch (e) {
        rethrow(e, `[${i}]`)
      }
    }
  } else {
    for (const key in v) {
      try {
        jsonValue((v as Dict)[key], depth + 1)
      } catch (e) {
        rethrow(e, field(key))
      }
    }
  }
  return v as Schema.JsonValue
}

const keepUnknown = (
  unknown: Record<string, Schema.JsonValue> | undefined,
  key: string,
  v: unknown
): Record<string, Schema.JsonValue> => {
  const out = unknown ?? (Object.create(null) as Record<string, Schema.JsonValue>)
  out[key] = jsonValue(v, 2)
  return out
}

const decodeRepo = (v: unknown): Schema.RepoInfo => {
  const o = record(v)
  let sourcePath = ""
  let unknown: Record<string, Schema.JsonValue> | undefined
  for (const key in o) {
    const value = o[key]
    try {
      if (key === "source_path") sourcePath = str(value)
      else unknown = keepUnknown(unknown, key, value)
    } catch (e) {
      rethrow(e, field(key))
    }
  }
  return unknown === undefined ? { sourcePath } : { sourcePath, unknownFields: unknown }
}

const decodeWorkspace = (v: unknown): Schema.WorkspaceInfo => {
  const o = record(v)
  let name = "", repo = "", path = "", purpose = "", rev = "", provisioned = false
  let status: Schema.WorkspaceStatus = ""
  let pid: number | undefined
  let createdAt = Timestamp.zero, updatedAt = Timestamp.zero, acquiredAt = Timestamp.zero
  let unknown: Record<string, Schema.JsonValue> | undefined
  for (const key in o) {
    const value = o[key]
    try {
      switch (key) {
        case "name":
          name = str(value)
          break
        case "repo":
          repo = str(value)
          break
        case "path":
          path = str(value)
          break
        case "purpose":
          purpose = str(value)
          break
        case "rev":
          rev = str(value)
          break
        case "status":
          status = literal(workspaceStatuses, value)
          break
        case "acquired_by_pid":
          pid = int(o, key, value)
          break
        case "created_at":
          createdAt = time(o, key, value)
          break
        case "updated_at":
          updatedAt = time(o, key, value)
          break
        case "acquired_at":
          acquiredAt = time(o, key, value)
          break
        case "provisioned":
          provisioned = bool(value)
          break
        default:
          unknown = keepUnknown(unknown, key, value)
      }
    } catch (e) {
      rethrow(e, field(key))
    }
  }
  const ws: Mutable<Schema.WorkspaceInfo> = { name, repo, path, status, createdAt, updatedAt, acquiredAt, provisioned }
  if (purpose !== "") ws.purpose = purpose
  if (rev !== "") ws.rev = rev
  if (pid !== undefined && pid !== 0) ws.acquiredByPid = pid
  if (unknown !== undefined) ws.unknownFields = unknown
  return ws
}

const decodeSession = (v: unknown): Schema.OpencodeSession => {
  const o = record(v)
  let id = "", repo = "", logPath = ""
  let status: Schema.SessionStatus = ""
  let createdAt = Timestamp.zero, startedAt = Timestamp.zero, updatedAt = Timestamp.zero, completedAt = Timestamp.zero
  let exitCode: number | undefined, durationSeconds: number | undefined
  let unknown: Record<string, Schema.JsonValue> | undefined
  for (const key in o) {
    const value = o[key]
    try {
      switch (key) {
        case "id":
          id = str(value)
          break
        case "repo":
          repo = str(value)
          break
        case "status":
          status = literal(sessionStatuses, value)
          break
        case "created_at":
          createdAt = time(o, key, value)
          break
        case "started_at":
          startedAt = time(o, key, value)
          break
        case "updated_at":
          updatedAt = time(o, key, value)
          break
        case "completed_at":
          completedAt = time(o, key, value)
          break
        case "exit_code":
          exitCode = int(o, key, value)
          break
        case "duration_seconds":
          durationSeconds = int(o, key, value)
          break
        case "log_path":
          logPath = str(value)
          break
        case "prompt":
          // Old versions stored the prompt; it is dropped, and the store rewrites the file without it.
          legacyPrompt = true
          break
        default:
          unknown = keepUnknown(unknown, key, value)
      }
    } catch (e) {
      rethrow(e, field(key))
    }
  }
  const session: Mutable<Schema.OpencodeSession> = { id, repo, status, createdAt, startedAt, updatedAt, completedAt }
  if (exitCode !== undefined) session.exitCode = exitCode
  if (durationSeconds !== undefined && durationSeconds !== 0) session.durationSeconds = durationSeconds
  if (logPath !== "") session.logPath = logPath
  if (unknown !== undefined) session.unknownFields = unknown
  return session
}

const decodeReview = (v: unknown): Schema.JobReview => {
  const o = record(v)
  let comments = "", opencodeSessionId = ""
  let outcome: Schema.ReviewOutcome = ""
  let reviewedAt = Timestamp.zero
  let unknown: Record<string, Schema.JsonValue> | undefined
  for (const key in o) {
    const value = o[key]
    try {
      switch (key) {
        case "outcome":
          outcome = literal(outcomes, value)
          break
        case "comments":
          comments = str(value)
          break
        case "opencode_session_id":
          opencodeSessionId = str(value)
          break
        case "reviewed_at":
          reviewedAt = time(o, key, value)
          break
        default:
          unknown = keepUnknown(unknown, key, value)
      }
    } catch (e) {
      rethrow(e, field(key))
    }
  }
  const review: Mutable<Schema.JobReview> = comments === ""
    ? { outcome, opencodeSessionId, reviewedAt }
    : { outcome, comments, opencodeSessionId, reviewedAt }
  if (unknown !== undefined) review.unknownFields = unknown
  return review
}

const decodeCommit = (v: unknown): Schema.JobCommit => {
  const o = record(v)
  let commitId = "", draftMessage = "", opencodeSessionId = ""
  let testsPassed: boolean | undefined
  let review: Schema.JobReview | undefined
  let createdAt = Timestamp.zero
  let unknown: Record<string, Schema.JsonValue> | undefined
  for (const key in o) {
    const value = o[key]
    try {
      switch (key) {
        case "commit_id":
          commitId = str(value)
          break
        case "draft_message":
          draftMessage = str(value)
          break
        case "tests_passed":
          testsPassed = value === null ? undefined : bool(value)
          break
        case "review":
          review = value === null ? undefined : decodeReview(value)
          break
        case "opencode_session_id":
          opencodeSessionId = str(value)
          break
        case "created_at":
          createdAt = time(o, key, value)
          break
        default:
          unknown = keepUnknown(unknown, key, value)
      }
    } catch (e) {
      rethrow(e, field(key))
    }
  }
  const commit: Mutable<Schema.JobCommit> = { commitId, draftMessage, opencodeSessionId, createdAt }
  if (testsPassed !== undefined) commit.testsPassed = testsPassed
  if (review !== undefined) commit.review = review
  if (unknown !== undefined) commit.unknownFields = unknown
  return commit
}

const decodeList = <A>(v: unknown, each: (item: unknown) => A): Array<A> | undefined => {
  const items = array(v)
  if (items === undefined) return undefined
  const out = new Array<A>(items.length)
  for (let i = 0; i < items.length; i++) {
    try {
      out[i] = each(items[i])
    } catch (e) {
      rethrow(e, `[${i}]`)
    }
  }
  return out
}

const decodeChange = (v: unknown): Schema.JobChange => {
  const o = record(v)
  let changeId = ""
  let commits: Array<Schema.JobCommit> | undefined
  let createdAt = Timestamp.zero
  let unknown: Record<string, Schema.JsonValue> | undefined
  for (const key in o) {
    const value = o[key]
    try {
      switch (key) {
        case "change_id":
          changeId = str(value)
          break
        case "commits":
          commits = decodeList(value, decodeCommit)
          break
        case "created_at":
          createdAt = time(o, key, value)
          break
        default:
          unknown = keepUnknown(unknown, key, value)
      }
    } catch (e) {
      rethrow(e, field(key))
    }
  }
  const change: Mutable<Schema.JobChange> = commits === undefined
    ? { changeId, createdAt }
    : { changeId, commits, createdAt }
  if (unknown !== undefined) change.unknownFields = unknown
  return change
}

const decodeJobSession = (v: unknown): Schema.JobOpencodeSession => {
  const o = record(v)
  let purpose = "", id = ""
  let unknown: Record<string, Schema.JsonValue> | undefined
  for (const key in o) {
    const value = o[key]
    try {
      if (key === "purpose") purpose = str(value)
      else if (key === "id") id = str(value)
      else unknown = keepUnknown(unknown, key, value)
    } catch (e) {
      rethrow(e, field(key))
    }
  }
  return unknown === undefined ? { purpose, id } : { purpose, id, unknownFields: unknown }
}

const decodeJob = (v: unknown): Schema.Job => {
  const o = record(v)
  let id = "", repo = "", todoId = "", agent = "", implementationModel = "", codeReviewModel = ""
  let projectReviewModel = "", feedback = ""
  let stage: Schema.JobStage = ""
  let status: Schema.JobStatus = ""
  let sessions: Array<Schema.JobOpencodeSession> | undefined
  let changes: Array<Schema.JobChange> | undefined
  let projectReview: Schema.JobReview | undefined
  let createdAt = Timestamp.zero, startedAt = Timestamp.zero, updatedAt = Timestamp.zero, completedAt = Timestamp.zero
  let unknown: Record<string, Schema.JsonValue> | undefined
  for (const key in o) {
    const value = o[key]
    try {
      switch (key) {
        case "id":
          id = str(value)
          break
        case "repo":
          repo = str(value)
          break
        case "todo_id":
          todoId = str(value)
          break
        case "agent":
          agent = str(value)
          break
        case "implementation_model":
          implementationModel = str(value)
          break
        case "code_review_model":
          codeReviewModel = str(value)
          break
        case "project_review_model":
          projectReviewModel = str(value)
          break
        case "stage":
          stage = literal(jobStages, value)
          break
        case "feedback":
          feedback = str(value)
          break
        case "opencode_sessions":
          sessions = decodeList(value, decodeJobSession)
          break
        case "changes":
          changes = decodeList(value, decodeChange)
          break
        case "project_review":
          projectReview = value === null ? undefined : decodeReview(value)
          break
        case "status":
          status = literal(jobStatuses, value)
          break
        case "created_at":
          createdAt = time(o, key, value)
          break
        case "started_at":
          startedAt = time(o, key, value)
          break
        case "updated_at":
          updatedAt = time(o, key, value)
          break
        case "completed_at":
          completedAt = time(o, key, value)
          break
        default:
          unknown = keepUnknown(unknown, key, value)
      }
    } catch (e) {
      rethrow(e, field(key))
    }
  }
  const job: Mutable<Schema.Job> = { id, repo, todoId, agent, stage, status, createdAt, startedAt, updatedAt, completedAt }
  if (implementationModel !== "") job.implementationModel = implementationModel
  if (codeReviewModel !== "") job.codeReviewModel = codeReviewModel
  if (projectReviewModel !== "") job.projectReviewModel = projectReviewModel
  if (feedback !== "") job.feedback = feedback
  if (sessions !== undefined && sessions.length > 0) {
    job.opencodeSessions = sessions as [Schema.JobOpencodeSession, ...Array<Schema.JobOpencodeSession>]
  }
  if (changes !== undefined && changes.length > 0) {
    job.changes = changes as [Schema.JobChange, ...Array<Schema.JobChange>]
  }
  if (projectReview !== undefined) job.projectReview = projectReview
  if (unknown !== undefined) job.unknownFields = unknown
  return job
}

const decodeMap = <A>(v: unknown, each: (value: unknown) => A): Record<string, A> => {
  // No prototype: keys like "__proto__" or "constructor" are plain data.
  const out = Object.create(null) as Record<string, A>
  if (v === null || v === undefined) return out
  if (!isObject(v)) throw new Failure("an object", describe(v))
  for (const key in v) {
    try {
      out[key] = each(v[key])
    } catch (e) {
      rethrow(e, entry(key))
    }
  }
  return out
}

const decodeState = (v: unknown): Schema.State => {
  if (v === null) return emptyState
  if (!isObject(v)) throw new Failure("an object", describe(v))
  let repos: Record<string, Schema.RepoInfo> | undefined
  let workspaces: Record<string, Schema.WorkspaceInfo> | undefined
  let sessions: Record<string, Schema.OpencodeSession> | undefined
  let jobs: Record<string, Schema.Job> | undefined
  let unknown: Record<string, Schema.JsonValue> | undefined
  for (const key in v) {
    const value = v[key]
    try {
      switch (key) {
        case "repos":
          repos = decodeMap(value, decodeRepo)
          break
        case "workspaces":
          workspaces = decodeMap(value, decodeWorkspace)
          break
        case "opencode_sessions":
          sessions = decodeMap(value, decodeSession)
          break
        case "jobs":
          jobs = decodeMap(value, decodeJob)
          break
        default:
          unknown = keepUnknown(unknown, key, value)
      }
    } catch (e) {
      rethrow(e, field(key))
    }
  }
  const state: Mutable<Schema.State> = {
    repos: repos ?? emptyMap(),
    workspaces: workspaces ?? emptyMap(),
    opencodeSessions: sessions ?? emptyMap(),
    jobs: jobs ?? emptyMap()
  }
  if (unknown !== undefined) state.unknownFields = unknown
  return state
}

const emptyMap = <A>(): Record<string, A> => Object.create(null)

/** The state of an absent file. */
export const emptyState: Schema.State = Object.freeze({
  repos: Object.freeze(emptyMap()),
  workspaces: Object.freeze(emptyMap()),
  opencodeSessions: Object.freeze(emptyMap()),
  jobs: Object.freeze(emptyMap())
}) as Schema.State

/**
 * Spellings `JSON.parse` would hide: a number with a fraction or exponent
 * right after a key (`"exit_code": 1e2`), an escape inside a `*_at` string,
 * an escaped surrogate. A hit inside a string only costs the slow path.
 */
const NEEDS_TOKENS = /":\s*-?\d+[.eE]|_at"\s*:\s*"[^"\\]*\\|\\u[dD][89a-fA-F]/

const formatPath = (segments: ReadonlyArray<string>): string => {
  if (segments.length === 0) return "$"
  let out = ""
  for (let i = segments.length - 1; i >= 0; i--) out += segments[i]
  return out[0] === "." ? out.slice(1) : out
}

/**
 * Decodes the file's text or bytes. The result is `Left` for every invalid
 * input; no input makes this throw.
 */
type Corruption = Omit<ConstructorParameters<typeof CorruptStateFile>[0], "path">

/**
 * Parses the text into JSON values, or describes the syntax error. A
 * function of its own so that the text (as large as the file) is garbage
 * once it returns, while the values are decoded.
 */
const parseJson = (input: string | Uint8Array): { readonly parsed: unknown; readonly marks: Json.Spellings | undefined } | Corruption => {
  const text = typeof input === "string"
    ? input
    : isUtf8(input)
    ? Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString("utf8")
    : Json.decodeUtf8LikeGo(input)
  try {
    if (NEEDS_TOKENS.test(text)) {
      const marks: Json.Spellings = new WeakMap()
      return { parsed: Json.parse(text, marks), marks }
    }
    return { parsed: JSON.parse(text), marks: undefined }
  } catch (e) {
    // Locate the error with the token-level parser; V8's message has no reliable position.
    let located: unknown = e
    if (!(e instanceof Json.JsonSyntaxError)) {
      try {
        Json.parse(text)
      } catch (e2) {
        located = e2
      }
    }
    return located instanceof Json.JsonSyntaxError
      ? { jsonPath: "$", expected: located.expected, found: located.found, line: located.line, column: located.column }
      : { jsonPath: "$", expected: "valid JSON", found: String(e) }
  }
}

/**
 * Decodes the file's text or bytes. The result is `Left` for every invalid
 * input; no input makes this throw.
 */
export const decode = (
  input: string | Uint8Array,
  path: string | undefined
): Either.Either<Decoded, CorruptStateFile> => {
  const corrupt = (fields: Corruption) =>
    Either.left(new CorruptStateFile(path === undefined ? fields : { path, ...fields }))
  const json = parseJson(input)
  if ("jsonPath" in json) return corrupt(json)
  spellings = json.marks
  legacyPrompt = false
  try {
    const state = decodeState(json.parsed)
    return Either.right({ state, hadLegacyPrompt: legacyPrompt })
  } catch (e) {
    if (e instanceof Failure) return corrupt({ jsonPath: formatPath(e.path), expected: e.expected, found: e.found })
    if (e instanceof RangeError) return corrupt({ jsonPath: "$", expected: "less deeply nested JSON", found: e.message })
    throw e
  } finally {
    spellings = undefined
  }
}

// ---------------------------------------------------------------------------
// Encoding

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

/**
 * Orders keys by their UTF-8 bytes, as Go sorts map keys. That is code
 * point order, which differs from JavaScript's UTF-16 order only between
 * astral characters (surrogate pairs) and U+E000-U+FFFF.
 */
const compareUtf8 = (a: string, b: string): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i)
    let y = b.charCodeAt(i)
    if (x === y) continue
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000
    }
    return x - y
  }
  return a.length - b.length
}

const sortedKeys = (map: object): Array<string> => {
  const keys = Object.keys(map)
  // Maps built by decode, or by spreading one, already list their keys in
  // order (bar integer-like keys, which JavaScript puts first): check in
  // one pass before paying for a sort.
  for (let i = 1; i < keys.length; i++) {
    if (compareUtf8(keys[i - 1]!, keys[i]!) >= 0) return keys.sort(compareUtf8)
  }
  return keys
}

const indents: Array<string> = []
const indent = (depth: number): string => indents[depth] ??= "\n" + "  ".repeat(depth)

const writeJson = (v: Schema.JsonValue, depth: number): string => {
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
    out += (i === 0 ? inner : "," + inner) + quote(key) + ": " + writeJson((v as Schema.UnknownFields)[key]!, depth + 1)
  }
  return out + indent(depth) + "}"
}

/** Appends a record's unknown fields, then closes it. */
const close = (out: string, unknown: Schema.UnknownFields | undefined, depth: number): string => {
  if (unknown !== undefined) {
    const inner = "," + indent(depth + 1)
    for (const key of Object.keys(unknown)) out += inner + quote(key) + ": " + writeJson(unknown[key]!, depth + 1)
  }
  return out + indent(depth) + "}"
}

const writeReview = (r: Schema.JobReview, depth: number): string => {
  const d = indent(depth + 1)
  let out = "{" + d + "\"outcome\": " + quote(r.outcome)
  if (r.comments !== undefined && r.comments !== "") out += "," + d + "\"comments\": " + quote(r.comments)
  out += "," + d + "\"opencode_session_id\": " + quote(r.opencodeSessionId)
  out += "," + d + "\"reviewed_at\": \"" + r.reviewedAt + "\""
  return close(out, r.unknownFields, depth)
}

const writeCommit = (c: Schema.JobCommit, depth: number): string => {
  const d = indent(depth + 1)
  let out = "{" + d + "\"commit_id\": " + quote(c.commitId)
  out += "," + d + "\"draft_message\": " + quote(c.draftMessage)
  if (c.testsPassed !== undefined) out += "," + d + "\"tests_passed\": " + (c.testsPassed ? "true" : "false")
  if (c.review !== undefined) out += "," + d + "\"review\": " + writeReview(c.review, depth + 1)
  out += "," + d + "\"opencode_session_id\": " + quote(c.opencodeSessionId)
  out += "," + d + "\"created_at\": \"" + c.createdAt + "\""
  return close(out, c.unknownFields, depth)
}

const writeList = <A>(items: ReadonlyArray<A>, depth: number, each: (item: A, depth: number) => string): string => {
  if (items.length === 0) return "[]"
  const d = indent(depth + 1)
  let out = "["
  for (let i = 0; i < items.length; i++) out += (i === 0 ? d : "," + d) + each(items[i]!, depth + 1)
  return out + indent(depth) + "]"
}

const writeChange = (c: Schema.JobChange, depth: number): string => {
  const d = indent(depth + 1)
  let out = "{" + d + "\"change_id\": " + quote(c.changeId)
  out += "," + d + "\"commits\": " + (c.commits === undefined ? "null" : writeList(c.commits, depth + 1, writeCommit))
  out += "," + d + "\"created_at\": \"" + c.createdAt + "\""
  return close(out, c.unknownFields, depth)
}

const writeJobSession = (s: Schema.JobOpencodeSession, depth: number): string => {
  const d = indent(depth + 1)
  const out = "{" + d + "\"purpose\": " + quote(s.purpose) + "," + d + "\"id\": " + quote(s.id)
  return close(out, s.unknownFields, depth)
}

const optionalString = (d: string, key: string, value: string | undefined): string =>
  value === undefined || value === "" ? "" : "," + d + "\"" + key + "\": " + quote(value)

const optionalInt = (d: string, key: string, value: number | undefined): string =>
  value === undefined || value === 0 ? "" : "," + d + "\"" + key + "\": " + JSON.stringify(value)

const writeRepo = (r: Schema.RepoInfo, depth: number): string =>
  close("{" + indent(depth + 1) + "\"source_path\": " + quote(r.sourcePath), r.unknownFields, depth)

const writeWorkspace = (w: Schema.WorkspaceInfo, depth: number): string => {
  const d = indent(depth + 1)
  let out = "{" + d + "\"name\": " + quote(w.name)
  out += "," + d + "\"repo\": " + quote(w.repo)
  out += "," + d + "\"path\": " + quote(w.path)
  out += optionalString(d, "purpose", w.purpose)
  out += optionalString(d, "rev", w.rev)
  out += "," + d + "\"status\": " + quote(w.status)
  out += optionalInt(d, "acquired_by_pid", w.acquiredByPid)
  out += "," + d + "\"created_at\": \"" + w.createdAt + "\""
  out += "," + d + "\"updated_at\": \"" + w.updatedAt + "\""
  out += "," + d + "\"acquired_at\": \"" + w.acquiredAt + "\""
  out += "," + d + "\"provisioned\": " + (w.provisioned ? "true" : "false")
  return close(out, w.unknownFields, depth)
}

const writeSession = (s: Schema.OpencodeSession, depth: number): string => {
  const d = indent(depth + 1)
  let out = "{" + d + "\"id\": " + quote(s.id)
  out += "," + d + "\"repo\": " + quote(s.repo)
  out += "," + d + "\"status\": " + quote(s.status)
  out += "," + d + "\"created_at\": \"" + s.createdAt + "\""
  out += "," + d + "\"started_at\": \"" + s.startedAt + "\""
  out += "," + d + "\"updated_at\": \"" + s.updatedAt + "\""
  out += "," + d + "\"completed_at\": \"" + s.completedAt + "\""
  if (s.exitCode !== undefined) out += "," + d + "\"exit_code\": " + JSON.stringify(s.exitCode)
  out += optionalInt(d, "duration_seconds", s.durationSeconds)
  out += optionalString(d, "log_path", s.logPath)
  return close(out, s.unknownFields, depth)
}

const writeJob = (j: Schema.Job, depth: number): string => {
  const d = indent(depth + 1)
  let out = "{" + d + "\"id\": " + quote(j.id)
  out += "," + d + "\"repo\": " + quote(j.repo)
  out += "," + d + "\"todo_id\": " + quote(j.todoId)
  out += "," + d + "\"agent\": " + quote(j.agent)
  out += optionalString(d, "implementation_model", j.implementationModel)
  out += optionalString(d, "code_review_model", j.codeReviewModel)
  out += optionalString(d, "project_review_model", j.projectReviewModel)
  out += "," + d + "\"stage\": " + quote(j.stage)
  out += optionalString(d, "feedback", j.feedback)
  if (j.opencodeSessions !== undefined && j.opencodeSessions.length > 0) {
    out += "," + d + "\"opencode_sessions\": " + writeList(j.opencodeSessions, depth + 1, writeJobSession)
  }
  if (j.changes !== undefined && j.changes.length > 0) {
    out += "," + d + "\"changes\": " + writeList(j.changes, depth + 1, writeChange)
  }
  if (j.projectReview !== undefined) out += "," + d + "\"project_review\": " + writeReview(j.projectReview, depth + 1)
  out += "," + d + "\"status\": " + quote(j.status)
  out += "," + d + "\"created_at\": \"" + j.createdAt + "\""
  out += "," + d + "\"started_at\": \"" + j.startedAt + "\""
  out += "," + d + "\"updated_at\": \"" + j.updatedAt + "\""
  out += "," + d + "\"completed_at\": \"" + j.completedAt + "\""
  return close(out, j.unknownFields, depth)
}

/**
 * The UTF-8 bytes of each map entry already encoded, keyed by the
 * (immutable) record object: an update that replaces one job re-encodes
 * only that job, and the document is assembled with one copy per entry.
 * (Concatenating cached strings instead builds a rope that costs more to
 * flatten than the whole encode.) After each encode the cached bytes are
 * views into the output, so the cache costs no memory beyond the output
 * the store keeps anyway.
 */
const entryBytes = new WeakMap<object, Buffer>()

/** Collects the output as text and cached byte chunks, then copies them once into one buffer. */
class Chunks {
  readonly parts: Array<string | Buffer> = []
  readonly owners: Array<object | undefined> = []
  pending = ""
  size = 0
  text(s: string): void {
    this.pending += s
  }
  entry(owner: object, b: Buffer): void {
    this.flush()
    this.parts.push(b)
    this.owners.push(owner)
    this.size += b.length
  }
  private flush(): void {
    if (this.pending === "") return
    this.parts.push(this.pending)
    this.owners.push(undefined)
    this.size += Buffer.byteLength(this.pending, "utf8")
    this.pending = ""
  }
  done(): Buffer {
    this.flush()
    const out = Buffer.allocUnsafe(this.size)
    let offset = 0
    for (let i = 0; i < this.parts.length; i++) {
      const part = this.parts[i]!
      const start = offset
      offset += typeof part === "string" ? out.write(part, offset, "utf8") : part.copy(out, offset)
      const owner = this.owners[i]
      if (owner !== undefined) entryBytes.set(owner, out.subarray(start, offset))
    }
    return out
  }
}

const writeMap = <A extends object>(
  out: Chunks,
  map: { readonly [key: string]: A },
  write: (a: A, depth: number) => string
) => {
  const keys = sortedKeys(map)
  if (keys.length === 0) return out.text("{}")
  const d = indent(2)
  out.text("{")
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    const value = map[key]!
    let bytes = entryBytes.get(value)
    if (bytes === undefined) {
      bytes = Buffer.from(write(value, 2), "utf8")
      entryBytes.set(value, bytes)
    }
    out.text((i === 0 ? d : "," + d) + quote(key) + ": ")
    out.entry(value, bytes)
  }
  out.text(indent(1) + "}")
}

/** Encodes a state as the Go tool's bytes, UTF-8 (see `Schema.encode`). */
export const encodeBytes = (state: Schema.State): Buffer => {
  const d = indent(1)
  const out = new Chunks()
  out.text("{" + d + "\"repos\": ")
  writeMap(out, state.repos, writeRepo)
  out.text("," + d + "\"workspaces\": ")
  writeMap(out, state.workspaces, writeWorkspace)
  out.text("," + d + "\"opencode_sessions\": ")
  writeMap(out, state.opencodeSessions, writeSession)
  out.text("," + d + "\"jobs\": ")
  writeMap(out, state.jobs, writeJob)
  out.text(close("", state.unknownFields, 0))
  return out.done()
}

/** Encodes a state as the Go tool's text (see `Schema.encode`). */
export const encode = (state: Schema.State): string => encodeBytes(state).toString("utf8")

/**
 * The largest file decode reads: V8's longest string, in UTF-8 bytes (a
 * character takes at least one byte). Larger files are refused, typed, at
 * read, and a state whose encoding is larger is refused at write.
 */
export const maxFileBytes = 0x1fffffe8

/** A state ready to be written: the state as a reader of `bytes` will decode it, and those bytes. */
export interface Prepared {
  readonly state: Schema.State
  readonly bytes: Buffer
}

/**
 * Checks a state a caller wants written against the rules decode applies,
 * normalises what the file holds in only one way, and encodes it. Every
 * write path goes through here, so the store never writes what it, or the
 * Go tool, cannot read back.
 */
export const prepareWrite = (state: Schema.State): Either.Either<Prepared, InvalidState> =>
  Either.right({ state, bytes: encodeBytes(state) })
