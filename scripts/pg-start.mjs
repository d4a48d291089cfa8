#!/usr/bin/env node
// Starts a throwaway PostgreSQL for the tests (data in $INCREMENTUM_PG_DIR, default $TMPDIR/incrementum-state-pg,
// port $INCREMENTUM_PG_PORT, default 55432, trust authentication on 127.0.0.1 only) and prints its URL as the
// last line. Installs Debian's `postgresql` package first when no server is installed and we are root.
// Exits non-zero when the server cannot start, so that the tests fail rather than skip.
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { dataDir, dir, findBinDir, isRoot, port, run, serverUser, url } from "./pg-common.mjs"

let binDir = findBinDir()
if (binDir === undefined) {
  if (!isRoot) throw new Error("no PostgreSQL server under /usr/lib/postgresql; install Debian's postgresql package")
  console.error("pg-start: installing Debian's postgresql package")
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
  execFileSync("apt-get", ["update"], { stdio: ["ignore", 2, 2], env })
  execFileSync("apt-get", ["install", "-y", "--no-install-recommends", "postgresql"], { stdio: ["ignore", 2, 2], env })
  binDir = findBinDir()
  if (binDir === undefined) throw new Error("postgresql installed but no server found under /usr/lib/postgresql")
}

fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
if (isRoot) execFileSync("chown", ["-R", `${serverUser}:`, dir])

const running = () => {
  try {
    run(binDir, "pg_ctl", ["-D", dataDir, "status"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

if (!fs.existsSync(path.join(dataDir, "PG_VERSION"))) {
  run(binDir, "initdb", ["-D", dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"], {
    stdio: ["ignore", "ignore", "inherit"]
  })
}
if (!running()) {
  const serverOptions = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200`
  run(binDir, "pg_ctl", ["-D", dataDir, "-l", path.join(dir, "server.log"), "-o", serverOptions, "-w", "-t", "60", "start"], {
    stdio: ["ignore", "ignore", "inherit"]
  })
}
run(binDir, "pg_isready", ["-h", "127.0.0.1", "-p", String(port), "-t", "30"], { stdio: "ignore" })
console.log(url)
