// Shared by pg-start.mjs and pg-stop.mjs: where the throwaway server lives and how to run its tools.
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

export const dir = process.env.INCREMENTUM_PG_DIR ?? path.join(os.tmpdir(), "incrementum-state-pg")
export const port = Number(process.env.INCREMENTUM_PG_PORT ?? 55432)
export const dataDir = path.join(dir, "data")
export const url = `postgres://postgres@127.0.0.1:${port}/postgres`

/** PostgreSQL refuses to run as root, so as root the tools run as the `postgres` user the Debian package creates. */
export const isRoot = process.getuid?.() === 0
export const serverUser = "postgres"

/** The newest installed server's bin directory (Debian's layout), or undefined. */
export const findBinDir = () => {
  const root = "/usr/lib/postgresql"
  if (!fs.existsSync(root)) return undefined
  const versions = fs.readdirSync(root)
    .filter((v) => fs.existsSync(path.join(root, v, "bin", "pg_ctl")))
    .sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? undefined : path.join(root, versions[0], "bin")
}

/** Runs a server tool, as `postgres` when we are root. */
export const run = (binDir, tool, args, options = {}) => {
  const command = path.join(binDir, tool)
  const [file, argv] = isRoot ? ["runuser", ["-u", serverUser, "--", command, ...args]] : [command, args]
  return execFileSync(file, argv, { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8", ...options })
}
