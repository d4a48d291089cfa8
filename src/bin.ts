#!/usr/bin/env node
/**
 * The `incrementum-state` executable: runs `Cli.run` on Node. Exits 0 on
 * success and 1 on any failure; an expected failure (see
 * `Cli.isExpectedFailure`) is one line on stderr, never a stack trace.
 *
 * @since 0.1.0
 */
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Cli from "./Cli.js"
import * as Lock from "./Lock.js"

const program = Cli.run(process.argv).pipe(
  Effect.tapErrorCause((cause) => {
    const failure = Cause.failureOption(cause)
    if (Option.isSome(failure)) {
      if (Cli.isExpectedFailure(failure.value)) return Console.error(`incrementum-state: ${failure.value.message}`)
      // @effect/cli has already printed its usage error.
      if (ValidationError.isValidationError(failure.value)) return Effect.void
    }
    // A defect is a bug: show all of it.
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
