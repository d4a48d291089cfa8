#!/usr/bin/env node
// Stops the server pg-start.mjs started and removes its data: it is throwaway.
//
//   --keep       stop only, keeping the data (pg-start.mjs starts it again): a restart
//   --immediate  stop as a crash does (pg_ctl -m immediate: no checkpoint, recovery at the next start)
import * as fs from "node:fs"
import * as path from "node:path"
import { dataDir, dir, findBinDir, run } from "./pg-common.mjs"

const keep = process.argv.includes("--keep")
const mode = process.argv.includes("--immediate") ? "immediate" : "fast"
const binDir = findBinDir()
if (binDir !== undefined && fs.existsSync(path.join(dataDir, "PG_VERSION"))) {
  try {
    run(binDir, "pg_ctl", ["-D", dataDir, "-m", mode, "-w", "stop"], { stdio: ["ignore", "ignore", "inherit"] })
  } catch {
    // Not running: nothing to stop.
  }
}
if (!keep) fs.rmSync(dir, { recursive: true, force: true })
