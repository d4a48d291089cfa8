/**
 * The state file's format: one table per record, the fields in the order the
 * Go tool writes them (its struct declaration order), each with its
 * camelCase name, JSON key, kind and presence rule (see `record.ts`):
 *
 * - `required`: always written; missing or `null` reads as the zero value
 *   (`""`, `false`, `0001-01-01T00:00:00Z`).
 * - `omitEmpty`: left out when empty (`""`, 0, an empty list); absent in
 *   the record rather than empty, since an empty value cannot survive a
 *   round trip.
 * - `optional`: a Go pointer: written whenever set, its zero value
 *   included (`exit_code: 0`, `tests_passed: false`).
 * - `nullWhenAbsent`: a list Go always writes: unset is `null`, empty `[]`.
 *
 * Everything else about a record (its Effect Schema, decoder, encoder, the
 * list of known keys and the check that a state is writable) is derived from
 * these tables. Adding a field the Go tool gained is one row here (plus a
 * golden test).
 */
import { bool, int, list, nonEmptyList, nullWhenAbsent, omitEmpty, openEnum, optional, record, required, string, timestamp } from "./record.js"

// ---------------------------------------------------------------------------
// Enums. Go keeps any string; `""` is its zero value.

export const WorkspaceStatus = openEnum("WorkspaceStatus", "available", "acquired")
export const SessionStatus = openEnum("SessionStatus", "active", "completed", "failed", "killed")
export const JobStage = openEnum("JobStage", "implementing", "testing", "reviewing", "committing")
export const JobStatus = openEnum("JobStatus", "active", "completed", "failed", "abandoned")
export const ReviewOutcome = openEnum("ReviewOutcome", "ACCEPT", "REQUEST_CHANGES", "ABANDON")

// ---------------------------------------------------------------------------
// Records

/** `repos` entry: where a repo's source lives. */
export const RepoInfo = record("RepoInfo", {
  sourcePath: required("source_path", string)
})

/** `workspaces` entry, keyed `"<repo>/<workspace name>"`. */
export const WorkspaceInfo = record("WorkspaceInfo", {
  name: required("name", string),
  repo: required("repo", string),
  path: required("path", string),
  purpose: omitEmpty("purpose", string),
  rev: omitEmpty("rev", string),
  status: required("status", WorkspaceStatus),
  acquiredByPid: omitEmpty("acquired_by_pid", int),
  createdAt: required("created_at", timestamp),
  updatedAt: required("updated_at", timestamp),
  acquiredAt: required("acquired_at", timestamp),
  provisioned: required("provisioned", bool)
})

/** `opencode_sessions` entry, keyed `"<repo>/<session id>"`. Old versions also stored a `prompt`. */
export const OpencodeSession = record("OpencodeSession", {
  id: required("id", string),
  repo: required("repo", string),
  status: required("status", SessionStatus),
  createdAt: required("created_at", timestamp),
  startedAt: required("started_at", timestamp),
  updatedAt: required("updated_at", timestamp),
  completedAt: required("completed_at", timestamp),
  exitCode: optional("exit_code", int),
  durationSeconds: omitEmpty("duration_seconds", int),
  logPath: omitEmpty("log_path", string)
}, { legacyKeys: ["prompt"] })

/** A review of a commit or of a whole job. */
export const JobReview = record("JobReview", {
  outcome: required("outcome", ReviewOutcome),
  comments: omitEmpty("comments", string),
  opencodeSessionId: required("opencode_session_id", string),
  reviewedAt: required("reviewed_at", timestamp)
})

/** One commit (iteration) made while working on a change. */
export const JobCommit = record("JobCommit", {
  commitId: required("commit_id", string),
  draftMessage: required("draft_message", string),
  testsPassed: optional("tests_passed", bool),
  review: optional("review", JobReview),
  opencodeSessionId: required("opencode_session_id", string),
  createdAt: required("created_at", timestamp)
})

/** A jj change a job created, with every commit made on it. */
export const JobChange = record("JobChange", {
  changeId: required("change_id", string),
  commits: nullWhenAbsent("commits", list(JobCommit)),
  createdAt: required("created_at", timestamp)
})

/** An entry of a job's `opencode_sessions` list: which session did what. */
export const JobOpencodeSession = record("JobOpencodeSession", {
  purpose: required("purpose", string),
  id: required("id", string)
})

/** `jobs` entry, keyed by job id. */
export const Job = record("Job", {
  id: required("id", string),
  repo: required("repo", string),
  todoId: required("todo_id", string),
  agent: required("agent", string),
  implementationModel: omitEmpty("implementation_model", string),
  codeReviewModel: omitEmpty("code_review_model", string),
  projectReviewModel: omitEmpty("project_review_model", string),
  stage: required("stage", JobStage),
  feedback: omitEmpty("feedback", string),
  opencodeSessions: omitEmpty("opencode_sessions", nonEmptyList(JobOpencodeSession)),
  changes: omitEmpty("changes", nonEmptyList(JobChange)),
  projectReview: optional("project_review", JobReview),
  status: required("status", JobStatus),
  createdAt: required("created_at", timestamp),
  startedAt: required("started_at", timestamp),
  updatedAt: required("updated_at", timestamp),
  completedAt: required("completed_at", timestamp)
})

/**
 * The top level: four maps, always written, in this order (an absent or
 * `null` map reads as empty). Map keys are written sorted by their UTF-8
 * bytes.
 */
export const maps = [
  { name: "repos", key: "repos", record: RepoInfo },
  { name: "workspaces", key: "workspaces", record: WorkspaceInfo },
  { name: "opencodeSessions", key: "opencode_sessions", record: OpencodeSession },
  { name: "jobs", key: "jobs", record: Job }
] as const

/** Every record kind, for code that walks the tables (the CLI's `--json` field order). */
export const records = [RepoInfo, WorkspaceInfo, OpencodeSession, JobReview, JobCommit, JobChange, JobOpencodeSession, Job] as const

/** Any record kind of the tables. */
export type AnyRecordKind = (typeof records)[number]
