#!/usr/bin/env node
/**
 * The `incrementum-state` executable. `--version` is answered before any
 * library is loaded; everything else imports the program (`main.ts`) and
 * runs it on Node. Start-up time is most of what a person waits for here,
 * so this module imports nothing it does not need.
 *
 * @since 0.2.0
 */
import { readFileSync } from "node:fs"

// Two levels below the package root from src/cli, dist/cli and the bundle's directory alike.
const version = (): string =>
  (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version

const args = process.argv.slice(2)

if (args.length === 1 && args[0] === "--version") {
  process.stdout.write(version() + "\n")
} else {
  const { runOnNode } = await import("./node.js")
  runOnNode(args, version())
}
