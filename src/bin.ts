#!/usr/bin/env node
/**
 * The `incrementum-state` executable.
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Cli from "./Cli.js"
import * as Lock from "./Lock.js"

/** Failures a user can act on: one line, no stack trace. */
const expected = new Set(["CliFailure", "CorruptStateFile", "StateIoError", "LockTimeout", "RepoSourceMissing"])

const program = Cli.run(process.argv).pipe(
  Effect.tapErrorCause((cause) => {
    const failure = Cause.failureOption(cause)
    if (failure._tag === "Some") {
      const error = failure.value as { readonly _tag?: string; readonly message?: string }
      if (error._tag !== undefined && expected.has(error._tag)) return Console.error(`incrementum-state: ${error.message}`)
      // @effect/cli has already shown usage errors.
      if (ValidationError.isValidationError(error)) return Effect.void
    }
    return Console.error(Cause.pretty(cause))
  }),
  Effect.provide(NodeContext.layer)
)

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  teardown: (exit, onExit) => {
    const code = Exit.isSuccess(exit) ? 0 : 1
    // A lock wait that timed out leaves a flock call parked on a pool thread until the kernel
    // grants the lock, and Node's exit would wait for that thread: leave without it.
    if (Lock.parkedCalls() > 0) Lock.exitImmediately(code)
    onExit(code)
  }
})
