/**
 * Generates state files in the shape the Go tool was benchmarked with (see
 * shared/bench/README.md), deterministically, written by this library's
 * encoder (which writes the Go tool's bytes).
 */
import * as Schema from "../src/Schema.js"
import * as Timestamp from "../src/Timestamp.js"

const BASE = 1_768_501_425_123_456_789n // 2026-01-15T10:23:45.123456789-08:00
const STEP = 1_000_001_000n // each event 1.000001 s after the previous one

/** The `n`th event time, with nanoseconds and a -08:00 offset like the Go benchmark's. */
const at = (n: number): Timestamp.Timestamp =>
  Timestamp.fromEpochNanos(BASE + BigInt(n) * STEP, -480).pipe((o) => {
    if (o._tag === "None") throw new Error("time out of range")
    return o.value
  })

const pad = (n: number, width: number) => String(n).padStart(width, "0")
const hex = (n: number, width: number) => n.toString(16).padStart(width, "0")

const MESSAGE = ": Refactor the state store so that concurrent updates are serialized through the lock file; " +
  "add tests covering the no-op save path, legacy prompt migration, and repo name collisions."
const COMMENTS = "Please handle the error from Save & add a test for <empty> state."

/** The job id of job `i`: `job-<8 hex>`, spread like the Go benchmark's. */
export const jobId = (i: number): string => `job-${hex(Math.imul(i, 2_654_435_761) >>> 0, 8)}`

/** The state of the benchmark shape with `jobs` jobs. */
export const generateState = (jobs: number): Schema.State => {
  const repoCount = Math.max(1, Math.floor(jobs / 10))
  const repos: Record<string, Schema.RepoInfo> = {}
  const workspaces: Record<string, Schema.WorkspaceInfo> = {}
  for (let r = 0; r < repoCount; r++) {
    const name = `home-dev-src-project-${r}`
    repos[name] = { sourcePath: `/home/dev/src/project-${r}` }
    const ws = `ws-${pad(r, 3)}`
    workspaces[`${name}/${ws}`] = {
      name: ws,
      repo: name,
      path: `/home/dev/.local/share/incrementum/workspaces/${name}/${ws}`,
      purpose: `job do todo-${r}`,
      rev: "@",
      status: "acquired",
      acquiredByPid: 10_000 + r,
      createdAt: at(r),
      updatedAt: at(r + 1),
      acquiredAt: at(r + 2),
      provisioned: true
    }
  }
  const sessions: Record<string, Schema.OpencodeSession> = {}
  const jobMap: Record<string, Schema.Job> = {}
  for (let i = 0; i < jobs; i++) {
    const repo = `home-dev-src-project-${i % repoCount}`
    const sessionIds = [0, 1].map((k) => `ses_${pad(i * 10_000 + k, 12)}`)
    sessionIds.forEach((id, k) => {
      sessions[`${repo}/${id}`] = {
        id,
        repo,
        status: "completed",
        createdAt: at(i + k),
        startedAt: at(i + k),
        updatedAt: at(i + k + 5),
        completedAt: at(i + k + 6),
        exitCode: 0,
        durationSeconds: 6,
        logPath: `/home/dev/.local/share/incrementum/opencode/events/${id}.jsonl`
      }
    })
    const changes = [0, 1].map((c): Schema.JobChange => ({
      changeId: `zzzz${pad(i, 12)}${pad(c, 16)}`,
      commits: [0, 1, 2].map((k): Schema.JobCommit => ({
        commitId: hex(i * 1000 + c * 10 + k, 40),
        draftMessage: `change ${c} commit ${k}${MESSAGE}`,
        testsPassed: k > 0,
        review: {
          outcome: k === 2 ? "ACCEPT" : "REQUEST_CHANGES",
          comments: COMMENTS,
          opencodeSessionId: sessionIds[1]!,
          reviewedAt: at(i + c * 3 + k + 1)
        },
        opencodeSessionId: sessionIds[0]!,
        createdAt: at(i + c * 3 + k)
      })),
      createdAt: at(i + c)
    }))
    const completed = i % 2 === 0
    const job: Schema.Job = {
      id: jobId(i),
      repo,
      todoId: `todo-${pad(i, 6)}`,
      agent: "opencode",
      implementationModel: "anthropic/claude-sonnet-4",
      codeReviewModel: "openai/gpt-5",
      stage: "reviewing",
      opencodeSessions: [{ purpose: "implement", id: sessionIds[0]! }, { purpose: "review", id: sessionIds[1]! }],
      changes: [changes[0]!, changes[1]!],
      ...(completed
        ? { projectReview: { outcome: "ACCEPT" as const, opencodeSessionId: sessionIds[1]!, reviewedAt: at(i + 9) } }
        : {}),
      status: completed ? "completed" : "active",
      createdAt: at(i),
      startedAt: at(i),
      updatedAt: at(i + 8),
      completedAt: completed ? at(i + 9) : Timestamp.zero
    }
    jobMap[job.id] = job
  }
  return { repos, workspaces, opencodeSessions: sessions, jobs: jobMap }
}

/** The file text of the benchmark shape with `jobs` jobs, in the Go tool's bytes. */
export const generateStateText = (jobs: number): string => Schema.encode(generateState(jobs))
