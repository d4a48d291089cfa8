/**
 * Runs the program on Node: the platform's services, the exit code, and
 * the one exit that must not wait (see `lazyStore.exitNowIfParked`).
 *
 * @since 0.2.0
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { exitNowIfParked } from "./lazyStore.js"
import { main } from "./main.js"

const platform = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)

/**
 * Runs `main` on `args` and exits the process with its exit code.
 *
 * @since 0.2.0
 * @category program
 */
export const runOnNode = (args: ReadonlyArray<string>, version: string): void =>
  NodeRuntime.runMain(main(args, version).pipe(Effect.provide(platform)), {
    disableErrorReporting: true,
    teardown: (exit, onExit) => {
      // Ctrl-C interrupts the program: a clean end (watch runs until it), as in Effect's default teardown.
      const code = exit._tag === "Success"
        ? (typeof exit.value === "number" ? exit.value : 1)
        : Cause.isInterruptedOnly(exit.cause)
        ? 0
        : 1
      exitNowIfParked(code)
      onExit(code)
    }
  })
