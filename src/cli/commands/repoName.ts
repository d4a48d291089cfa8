/**
 * `incrementum-state repo-name`: name (and record) a repo.
 *
 * @since 0.2.0
 */
import * as Command from "@effect/cli/Command"
import * as Help from "../help.js"
import { printFromStore } from "../lazyStore.js"
import * as CliOptions from "../options.js"

/**
 * `repo-name [--dir DIR | --url URL] [--lock-timeout SECONDS] <source path>`: prints
 * the repo name for the path, recording a new repo (under the lock) when
 * it has none. The path is resolved against the working directory first,
 * as `ii` records the absolute root of the repository it runs in.
 *
 * @since 0.2.0
 * @category commands
 */
export const spec = Help.make({
  summary: "print the repo name for a source path, recording a new repo if it has none",
  examples: [
    ["incrementum-state repo-name ~/code/website", "users-amonks-code-website (the shell expands ~)"],
    ["incrementum-state repo-name .", "the repo of the working directory"]
  ],
  command: Command.make(
    "repo-name",
    {
      dir: CliOptions.dir,
      url: CliOptions.url,
      lockTimeout: CliOptions.lockTimeout,
      path: CliOptions.pathArg(
        "source path",
        "the repo's source directory; a relative path is taken from the working directory"
      )
    },
    (args) => printFromStore("repo-name", args, (ops, layer, path) => ops.repoName(layer, path))
  )
})
