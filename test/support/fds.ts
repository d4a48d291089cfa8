/**
 * The file descriptors this process holds, by what they point at (Linux's
 * /proc/self/fd), to prove that a store leaves none of its files open.
 */
import * as fs from "node:fs"
import * as path from "node:path"

/** The targets of this process's open descriptors under `dir` (a replaced file shows as "… (deleted)"). */
export const openFilesUnder = (dir: string): Array<string> => {
  const real = fs.realpathSync(dir)
  const targets: Array<string> = []
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    try {
      const target = fs.readlinkSync(path.join("/proc/self/fd", fd))
      if (target === real || target.startsWith(real + path.sep)) targets.push(target)
    } catch {
      // Closed since the listing (the listing's own descriptor, say).
    }
  }
  return targets
}
