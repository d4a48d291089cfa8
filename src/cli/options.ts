/**
 * The options the commands share, each with a description for `--help`
 * and a message for a bad value that names the option and what it wants.
 *
 * @since 0.2.0
 */
import * as Args from "@effect/cli/Args"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Filters from "./filters.js"

/** A bad value: `--name wants …, got 'value'`. */
const wants = (name: string, what: string, got: string) =>
  Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--${name} wants ${what}, got ${JSON.stringify(got)}`)))

/** A required text option whose value is checked by `parse` (`None`: refused, saying it wants `what`). */
const required = <A>(
  name: string,
  pseudoName: string,
  description: string,
  what: string,
  parse: (text: string) => Option.Option<A>
) =>
  Options.text(name).pipe(
    Options.withPseudoName(pseudoName),
    Options.withDescription(description),
    Options.mapEffect((text) =>
      Option.match(parse(text), { onNone: () => wants(name, what, text), onSome: Effect.succeed })
    )
  )

/** `required`, made optional. */
const checked = <A>(...args: Parameters<typeof required<A>>) => Options.optional(required(...args))

/**
 * `--dir DIR`: the state directory. When given, it must exist (checked
 * when the command runs).
 *
 * @since 0.2.0
 * @category options
 */
export const dir = checked(
  "dir",
  "DIR",
  "the state directory, which must exist (default: $HOME/.local/state/incrementum, the Go tool's, which need not)",
  "a directory",
  (text) => (text === "" ? Option.none() : Option.some(text))
)

/**
 * `--url URL`: a PostgreSQL database holding the state (`StorePg`), read
 * instead of a directory. Only a `postgres://` or `postgresql://` URL is
 * taken, so that a typo is a usage error rather than a connection attempt.
 *
 * @since 0.3.0
 * @category options
 */
export const url = checked(
  "url",
  "URL",
  "a PostgreSQL database holding the state, postgres://user:password@host:port/database, instead of a directory",
  "a postgres:// URL",
  (text) => postgresUrl(text)
)

/**
 * `--url URL` where it is required (`export`, `import`).
 *
 * @since 0.3.0
 * @category options
 */
export const requiredUrl = (description: string) =>
  required("url", "URL", description, "a postgres:// URL", (text) => postgresUrl(text))

/**
 * Whether `text` is a URL with the `postgres:` or `postgresql:` scheme
 * (`postgres:///db?host=/run/postgresql` for a socket included).
 *
 * @since 0.3.0
 * @category parsing
 */
export const isPostgresUrl = (text: string): boolean => {
  if (!URL.canParse(text)) return false
  const { protocol } = new URL(text)
  return protocol === "postgres:" || protocol === "postgresql:"
}

const postgresUrl = (text: string) => (isPostgresUrl(text) ? Option.some(text) : Option.none())

/**
 * `--lock-timeout SECONDS`: how long a writing command waits for
 * `state.lock`.
 *
 * @since 0.2.0
 * @category options
 */
export const lockTimeout = checked(
  "lock-timeout",
  "SECONDS",
  "how long to wait for the lock (state.lock, or with --url the database's) before giving up, in seconds (default: 30)",
  "a number of seconds, 0 or more",
  (text) => {
    const seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN
    return Number.isFinite(seconds) ? Option.some(seconds) : Option.none()
  }
)

/**
 * `--json`.
 *
 * @since 0.2.0
 * @category options
 */
export const json = (description: string) => Options.boolean("json").pipe(Options.withDescription(description))

const units: Readonly<Record<string, bigint>> = {
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
  d: 86_400_000_000_000n,
  w: 604_800_000_000_000n
}

/**
 * Parses a duration such as `90s`, `30m`, `12h`, `7d`, `2w` or `1h30m`
 * into nanoseconds: whole numbers with a unit each, `d` being 24 hours.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseDuration = (text: string): Option.Option<bigint> => {
  if (!/^(\d+[smhdw])+$/.test(text)) return Option.none()
  let total = 0n
  for (const [, n, unit] of text.matchAll(/(\d+)([smhdw])/g)) total += BigInt(n!) * units[unit!]!
  return Option.some(total)
}

const listOf = (known: ReadonlyArray<string>) => (text: string): Option.Option<ReadonlyArray<string>> => {
  const items = text.split(",")
  return items.every((item) => known.includes(item)) ? Option.some(items) : Option.none()
}

/**
 * The job filters of `show` and `jobs` (`--status`, `--all`, `--repo`,
 * `--stage`, `--since`, `--limit`), as a `Filters.JobFilter`, and whether
 * any was given.
 *
 * @since 0.2.0
 * @category options
 */
export const jobFilter = Options.all({
  status: checked(
    "status",
    "STATUS",
    `list jobs with these statuses, comma-separated: ${Filters.knownStatuses.join(", ")}, or all (default: active)`,
    `${Filters.knownStatuses.join(", ")} or all, or several joined by commas`,
    (text): Option.Option<"all" | ReadonlyArray<string>> =>
      text === "all" ? Option.some("all") : listOf(Filters.knownStatuses)(text)
  ),
  all: Options.boolean("all").pipe(Options.withDescription("list jobs of every status (as --status all)")),
  repo: checked(
    "repo",
    "REPO",
    "only this repo: its name (as in the REPOS table) or its source path (. for the working directory)",
    "a repo name or source path",
    (text) => (text === "" ? Option.none() : Option.some(text))
  ),
  stage: checked(
    "stage",
    "STAGE",
    `only jobs at this stage: ${Filters.knownStages.join(", ")}`,
    `one of ${Filters.knownStages.join(", ")}`,
    (text) => (Filters.knownStages.includes(text) ? Option.some(text) : Option.none())
  ),
  since: checked(
    "since",
    "DURATION",
    "only what was updated within this long, e.g. 30m, 12h, 7d, 2w",
    "a duration such as 30m, 12h, 7d or 1h30m",
    parseDuration
  ),
  limit: checked(
    "limit",
    "N",
    `list at most N rows (jobs, and in show each section), 0 for all (default: ${Filters.defaultLimit})`,
    "a whole number, 0 or more",
    (text) => (/^\d+$/.test(text) ? Option.some(Number(text)) : Option.none())
  )
}).pipe(Options.map(({ all, limit, repo, since, stage, status }) => ({
  filter: {
    statuses: all ? "all" : Option.getOrElse(status, () => Filters.defaultFilter.statuses),
    repo,
    stage,
    sinceNanos: since,
    limit: Option.getOrElse(limit, () => Filters.defaultLimit)
  } satisfies Filters.JobFilter as Filters.JobFilter,
  /** Whether any filter was given, for commands that take them only in some modes. */
  given: all || [status, repo, stage, since, limit].some((o: Option.Option<unknown>) => Option.isSome(o))
})))

/**
 * A path argument: refuses an empty one (it would be recorded, or looked
 * up, as the empty path).
 *
 * @since 0.2.0
 * @category options
 */
export const pathArg = (name: string, description: string) =>
  Args.text({ name }).pipe(
    Args.withDescription(description),
    Args.mapEffect((text) =>
      text === ""
        ? Effect.fail(HelpDoc.p(`<${name}> wants a path, got an empty one`))
        : Effect.succeed(text)
    )
  )
