/**
 * `incrementum-state repo-for`: the repo a workspace belongs to.
 *
 * @since 0.2.0
 */
import * as Command from "@effect/cli/Command"
import * as Help from "../help.js"
import { printFromStore } from "../lazyStore.js"
import * as CliOptions from "../options.js"

/**
 * `repo-for [--dir DIR | --url URL] [--lock-timeout SECONDS] <workspace path>`: prints
 * the source path of the repo the workspace belongs to; fails (exit 1)
 * for a path that is no workspace. A relative path is resolved against
 * the working directory, as `ii` does.
 *
 * @since 0.2.0
 * @category commands
 */
export const spec = Help.make({
  summary: "print the source path of the repo a workspace belongs to",
  examples: [
    [
      "incrementum-state repo-for ~/.local/share/incrementum/workspaces/website/ws-001",
      "/Users/amonks/code/website"
    ],
    ["incrementum-state repo-for .", "the repo of the workspace you are in"]
  ],
  command: Command.make(
    "repo-for",
    {
      dir: CliOptions.dir,
      url: CliOptions.url,
      lockTimeout: CliOptions.lockTimeout,
      path: CliOptions.pathArg(
        "workspace path",
        "a workspace directory; a relative path is taken from the working directory"
      )
    },
    (args) => printFromStore("repo-for", args, (ops, layer, path) => ops.repoFor(layer, path))
  )
})
