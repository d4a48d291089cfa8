/**
 * The incrementum state file as an Effect library.
 *
 * @since 0.1.0
 */

/**
 * The state's data model and the byte-exact codec shared with the Go tool.
 *
 * @since 0.1.0
 */
export * as Schema from "./Schema.js"

/**
 * The typed failures: corruption, I/O and lock timeout.
 *
 * @since 0.1.0
 */
export * as StateError from "./StateError.js"

/**
 * Lossless RFC 3339 timestamps with nanoseconds and their written offset.
 *
 * @since 0.1.0
 */
export * as Timestamp from "./Timestamp.js"

/**
 * The exclusive flock on `state.lock`, shared with the Go tool.
 *
 * @since 0.1.0
 */
export * as Lock from "./Lock.js"

/**
 * The `StateStore` service and its layers.
 *
 * @since 0.1.0
 */
export * as Store from "./Store.js"

/**
 * What happened between two states, as JSON-ready events, and the events
 * of `StateStore.changes`.
 *
 * @since 0.3.0
 */
export * as StateEvent from "./StateEvent.js"

/**
 * Repo naming and workspace-to-repo resolution.
 *
 * @since 0.1.0
 */
export * as Repo from "./Repo.js"

/**
 * Jobs: constructors with Go's zero values, lifecycle edits, queries and a
 * store-level update of one job.
 *
 * @since 0.2.0
 */
export * as Job from "./Job.js"

/**
 * Workspaces: a constructor with Go's zero values, keys and a store-level
 * update of one workspace.
 *
 * @since 0.2.0
 */
export * as Workspace from "./Workspace.js"

/**
 * Opencode sessions: a constructor with Go's zero values, keys and a
 * store-level update of one session.
 *
 * @since 0.2.0
 */
export * as Session from "./Session.js"
