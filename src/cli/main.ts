/**
 * The `incrementum-state` program: finds the command, parses its options
 * with @effect/cli, runs it, and turns every outcome into output and an
 * exit code (see `errors.ExitCode`).
 *
 * @since 0.2.0
 */
import * as Descriptor from "@effect/cli/CommandDescriptor"
import * as Terminal from "@effect/platform/Terminal"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Check from "./commands/check.js"
import * as Job from "./commands/job.js"
import * as Jobs from "./commands/jobs.js"
import * as RepoFor from "./commands/repoFor.js"
import * as RepoName from "./commands/repoName.js"
import * as Show from "./commands/show.js"
import * as Transfer from "./commands/transfer.js"
import * as Watch from "./commands/watch.js"
import { ExitCode, isExpectedFailure, UsageError } from "./errors.js"
import * as Help from "./help.js"
import * as Style from "./style.js"

/**
 * Every command, in the order the help lists them.
 *
 * @since 0.2.0
 * @category commands
 */
export const commands: ReadonlyArray<Help.CommandSpec> = [
  Show.spec,
  Jobs.spec,
  Job.spec,
  Check.spec,
  RepoName.spec,
  RepoFor.spec,
  Watch.spec,
  Transfer.exportSpec,
  Transfer.importSpec
]

const builtInNames: Readonly<Record<string, string>> = {
  SetLogLevel: "--log-level",
  ShowCompletions: "--completions",
  ShowWizard: "--wizard"
}

/** What @effect/cli left unparsed, as the usage error a person can act on. */
const leftoverError = (spec: Help.CommandSpec, arg: string): UsageError => {
  const [flag] = arg.split("=", 1)
  const options = Help.optionNames(spec)
  const takesValue = options.get(flag!)
  return new UsageError({
    command: spec.name,
    reason: takesValue === true
      ? `${flag} needs a value`
      : arg.startsWith("-")
      ? `${spec.name} has no option ${flag}${Help.didYouMean(flag!, options.keys())}`
      : `unexpected argument ${JSON.stringify(arg)}`
  })
}

/** Runs one command on its arguments (`args[0]` is its name). */
const runCommand = (spec: Help.CommandSpec, args: ReadonlyArray<string>, version: string) =>
  Effect.gen(function*() {
    const directive = yield* Descriptor.parse(spec.command.descriptor, args, Help.cliConfig).pipe(
      Effect.mapError((e) => new UsageError({ command: spec.name, reason: Help.docText(e.error) }))
    )
    if (directive._tag === "BuiltIn") {
      switch (directive.option._tag) {
        case "ShowHelp":
          return yield* Console.log(Help.commandHelp(spec))
        case "ShowVersion":
          return yield* Console.log(version)
        default:
          // @effect/cli's --wizard, --log-level and --completions: nothing here uses them.
          return yield* new UsageError({
            command: spec.name,
            reason: `${spec.name} has no option ${builtInNames[directive.option._tag] ?? directive.option._tag}`
          })
      }
    }
    const [extra] = directive.leftover
    if (extra !== undefined) return yield* leftoverError(spec, extra)
    yield* spec.run(directive.value)
  })

/**
 * Runs the program on its arguments (without node and the script) and
 * returns the exit code; it has printed everything by then. Expected
 * failures are one line on stderr (exit 1); bad usage prints the problem,
 * the command's usage and where its help is (exit 2); a defect is printed
 * in full (exit 1). No arguments prints the program's help on stderr and
 * exits 2: a script that lost its command must not pass silently.
 *
 * Needs `FileSystem`, `Path` and `Terminal`; the style of the output
 * comes from `Terminal.isTTY` and the `NO_COLOR` and `TERM` variables.
 *
 * @since 0.2.0
 * @category program
 */
export const main = (args: ReadonlyArray<string>, version: string) =>
  Effect.gen(function*() {
    const [first] = args
    if (first === undefined) {
      yield* Console.error(Help.rootHelp(commands, version))
      return ExitCode.usage
    }
    if (first === "--help" || first === "-h" || first === "help") {
      const topic = first === "help" ? commands.find((spec) => spec.name === args[1]) : undefined
      yield* Console.log(topic === undefined ? Help.rootHelp(commands, version) : Help.commandHelp(topic))
      return ExitCode.ok
    }
    if (first === "--version") {
      yield* Console.log(version)
      return ExitCode.ok
    }
    const spec = commands.find((spec) => spec.name === first)
    if (spec === undefined) {
      return yield* new UsageError({
        reason: first.startsWith("-")
          ? `unknown option ${first}`
          : `unknown command ${JSON.stringify(first)}${Help.didYouMean(first, commands.map((spec) => spec.name))}`
      })
    }
    yield* runCommand(spec, args, version).pipe(Effect.provideServiceEffect(Style.CurrentStyle, currentStyle))
    return ExitCode.ok
  }).pipe(
    Effect.catchAllCause((cause) => {
      const failure = Cause.failureOption(cause)
      if (Option.isSome(failure) && failure.value instanceof UsageError) {
        return Console.error(usageReport(failure.value)).pipe(Effect.as(ExitCode.usage))
      }
      if (Option.isSome(failure) && isExpectedFailure(failure.value)) {
        return Console.error(`${Help.programName}: ${failure.value.message}`).pipe(Effect.as(ExitCode.failure))
      }
      // Anything else is a bug: show all of it.
      return Console.error(Cause.pretty(cause)).pipe(Effect.as(ExitCode.failure))
    })
  )

const usageReport = (error: UsageError): string => {
  const spec = commands.find((spec) => spec.name === error.command)
  return [
    `${Help.programName}: ${error.reason}`,
    `usage: ${spec === undefined ? `${Help.programName} <command> [options]` : Help.usageLine(spec)}`,
    `Run '${Help.programName}${spec === undefined ? "" : ` ${spec.name}`} --help' for more.`
  ].join("\n")
}

const currentStyle = Effect.gen(function*() {
  const terminal = yield* Terminal.Terminal
  const env = (name: string) => Config.string(name).pipe(Config.option, Config.map(Option.getOrUndefined))
  return Style.forOutput(yield* terminal.isTTY, { NO_COLOR: yield* env("NO_COLOR"), TERM: yield* env("TERM") })
}).pipe(Effect.orDie)
