#!/usr/bin/env node
// Stops the server pg-start.mjs started and removes its data: it is throwaway.
import * as fs from "node:fs"
import * as path from "node:path"
import { dataDir, dir, findBinDir, run } from "./pg-common.mjs"

const binDir = findBinDir()
if (binDir !== undefined && fs.existsSync(path.join(dataDir, "PG_VERSION"))) {
  try {
    run(binDir, "pg_ctl", ["-D", dataDir, "-m", "fast", "-w", "stop"], { stdio: ["ignore", "ignore", "inherit"] })
  } catch {
    // Not running: nothing to stop.
  }
}
fs.rmSync(dir, { recursive: true, force: true })
