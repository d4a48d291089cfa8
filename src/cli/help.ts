/**
 * Help pages, in plain text, built from the @effect/cli descriptors: each
 * option's and argument's name and description come from its
 * `withDescription`, each command's summary from `Command.withDescription`.
 * @effect/cli's own pages print every option's type ("A user-defined
 * piece of text."), the built-in `--wizard`/`--log-level`/`--completions`,
 * a usage line without the program's name, and ANSI codes whatever the
 * output; these pages print what a person needs, the way `ii`'s do.
 *
 * @since 0.2.0
 */
import * as AutoCorrect from "@effect/cli/AutoCorrect"
import * as CliConfig from "@effect/cli/CliConfig"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import type * as Span from "@effect/cli/HelpDoc/Span"
import * as Usage from "@effect/cli/Usage"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import type * as Terminal from "@effect/platform/Terminal"
import type * as Effect from "effect/Effect"
import type { CurrentStyle } from "./style.js"

/**
 * The program's name, as users type it.
 *
 * @since 0.2.0
 * @category constants
 */
export const programName = "incrementum-state"

/**
 * A command with what its help page needs besides its descriptor: a
 * one-line summary (also its @effect/cli description) and examples
 * (`[command line, what it does]`).
 *
 * @since 0.2.0
 * @category models
 */
export interface CommandSpec {
  readonly name: string
  readonly summary: string
  readonly examples: ReadonlyArray<readonly [string, string]>
  // The command's types vary with its options; `run` is where they meet the program's.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly command: Command.Command<any, any, any, any>
  /** Runs the command's handler on what `Descriptor.parse` made of its arguments. */
  readonly run: (parsed: unknown) => Effect.Effect<void, unknown, Environment>
}

/**
 * What a command's handler may need: the platform's file system, path and
 * terminal, and the output's style.
 *
 * @since 0.2.0
 * @category models
 */
export type Environment = FileSystem.FileSystem | Path.Path | Terminal.Terminal | CurrentStyle

/**
 * Builds a `CommandSpec`, giving `command` `summary` as its description.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = <Name extends string, R extends Environment, E, A>(options: {
  readonly summary: string
  readonly examples: ReadonlyArray<readonly [string, string]>
  readonly command: Command.Command<Name, R, E, A>
}): CommandSpec => {
  const command = options.command.pipe(Command.withDescription(options.summary))
  return {
    name: Array.from(Command.getNames(command))[0] ?? "",
    summary: options.summary,
    examples: options.examples,
    command,
    run: (parsed) => command.transform(command.handler(parsed as A), parsed as A)
  }
}

/**
 * The @effect/cli configuration the CLI parses with: no built-in options in
 * descriptors' help (this module prints `--help` itself).
 *
 * @since 0.2.0
 * @category constants
 */
export const cliConfig: CliConfig.CliConfig = CliConfig.make({ showBuiltIns: false, showTypes: false })

/**
 * `" (did you mean X?)"` for the candidate closest to a mistyped `word`
 * (at most two edits away, as @effect/cli's own correction), else `""`.
 *
 * @since 0.2.0
 * @category rendering
 */
export const didYouMean = (word: string, candidates: Iterable<string>): string => {
  let best: { readonly name: string; readonly distance: number } | undefined
  for (const name of candidates) {
    const distance = AutoCorrect.levensteinDistance(word, name, cliConfig)
    if (distance <= cliConfig.autoCorrectLimit && (best === undefined || distance < best.distance)) {
      best = { name, distance }
    }
  }
  return best === undefined ? "" : ` (did you mean ${best.name}?)`
}

/**
 * A span's text without styling.
 *
 * @since 0.2.0
 * @category rendering
 */
export const spanText = (span: Span.Span): string => {
  switch (span._tag) {
    case "Text":
    case "URI":
      return span.value
    case "Sequence":
      return spanText(span.left) + spanText(span.right)
    default:
      return spanText(span.value)
  }
}

// What @effect/cli adds to every option's description; it says nothing a person needs here.
const boilerplate = /^(A user-defined piece of text\.|A true or false value\.|An integer\.|This setting is optional\..*)$/

/** A document's paragraphs as lines of text, in order, boilerplate left out. */
const paragraphs = (doc: HelpDoc.HelpDoc): Array<string> => {
  switch (doc._tag) {
    case "Paragraph":
    case "Header": {
      const text = spanText(doc.value)
      return boilerplate.test(text) ? [] : [text]
    }
    case "Sequence":
      return [...paragraphs(doc.left), ...paragraphs(doc.right)]
    case "Enumeration":
      return doc.elements.flatMap(paragraphs)
    case "DescriptionList":
      return doc.definitions.flatMap(([span, d]) => [spanText(span), ...paragraphs(d)])
    case "Empty":
      return []
  }
}

/**
 * A validation error's text, on one line.
 *
 * @since 0.2.0
 * @category rendering
 */
export const docText = (doc: HelpDoc.HelpDoc): string => paragraphs(doc).join(" ")

/** The names and descriptions of a document's description lists (its options, or its arguments). */
const definitions = (doc: HelpDoc.HelpDoc): Array<readonly [string, string]> => {
  switch (doc._tag) {
    case "Sequence":
      return [...definitions(doc.left), ...definitions(doc.right)]
    case "DescriptionList":
      return doc.definitions.map(([span, d]) => [spanText(span), paragraphs(d).join(" ")] as const)
    default:
      return []
  }
}

/** The document under each top-level header ("ARGUMENTS", "OPTIONS", …). */
const sections = (doc: HelpDoc.HelpDoc): Map<string, HelpDoc.HelpDoc> => {
  const flat: Array<HelpDoc.HelpDoc> = []
  const flatten = (d: HelpDoc.HelpDoc): void => {
    if (d._tag === "Sequence") {
      flatten(d.left)
      flatten(d.right)
    } else flat.push(d)
  }
  flatten(doc)
  const out = new Map<string, HelpDoc.HelpDoc>()
  let current = ""
  for (const d of flat) {
    if (d._tag === "Header") current = spanText(d.value)
    else out.set(current, HelpDoc.sequence(out.get(current) ?? HelpDoc.empty, d))
  }
  return out
}

const columns = (rows: ReadonlyArray<readonly [string, string]>, indent = "  "): Array<string> => {
  const width = Math.max(...rows.map(([left]) => left.length))
  return rows.map(([left, right]) => `${indent}${left.padEnd(width)}  ${right}`.trimEnd())
}

/**
 * A command's usage line: `incrementum-state show [--dir DIR] …`.
 *
 * @since 0.2.0
 * @category rendering
 */
export const usageLine = (spec: CommandSpec): string =>
  `${programName} ${docText(Usage.getHelp(Command.getUsage(spec.command)))}`

/**
 * The option names a command accepts, with whether each takes a value,
 * for telling "--dir needs a value" from "no such option".
 *
 * @since 0.2.0
 * @category rendering
 */
export const optionNames = (spec: CommandSpec): Map<string, boolean> => {
  const help = sections(Command.getHelp(spec.command, cliConfig))
  const names = new Map<string, boolean>()
  for (const [name] of definitions(help.get("OPTIONS") ?? HelpDoc.empty)) {
    const [flag, value] = name.split(" ", 2)
    for (const alias of flag!.replace(/[()]/g, "").split(",")) names.set(alias.trim(), value !== undefined)
  }
  return names
}

/**
 * The help page of one command: summary, usage, arguments, options and
 * examples.
 *
 * @since 0.2.0
 * @category rendering
 */
export const commandHelp = (spec: CommandSpec): string => {
  const help = sections(Command.getHelp(spec.command, cliConfig))
  const args = definitions(help.get("ARGUMENTS") ?? HelpDoc.empty)
  const options = [...definitions(help.get("OPTIONS") ?? HelpDoc.empty), ["-h, --help", "show this help"] as const]
  return [
    `${programName} ${spec.name}: ${spec.summary}`,
    "",
    "Usage:",
    `  ${usageLine(spec)}`,
    ...(args.length === 0 ? [] : ["", "Arguments:", ...columns(args)]),
    "",
    "Options:",
    ...columns(options),
    "",
    "Examples:",
    ...columns(spec.examples)
  ].join("\n")
}

/**
 * The program's help page: what it is, its commands and the global
 * options.
 *
 * @since 0.2.0
 * @category rendering
 */
export const rootHelp = (specs: ReadonlyArray<CommandSpec>, version: string): string =>
  [
    `${programName} ${version}: look at and check the incrementum state file that the Go ii tool keeps`,
    "",
    "Usage:",
    `  ${programName} <command> [options]`,
    "",
    "Commands:",
    ...columns(specs.map((spec) => [spec.name, spec.summary])),
    "",
    "Options:",
    ...columns([["-h, --help", "show this help"], ["--version", "print the version"]]),
    "",
    `Run '${programName} <command> --help' for a command's options and examples.`
  ].join("\n")
