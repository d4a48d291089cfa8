/**
 * The floor: the same file work as the store, done directly, with no
 * Schema and no Effect: flock, read, JSON.parse, change, JSON.stringify
 * with a 2-space indent, temp file, fsync, rename, directory fsync. Every
 * store figure is reported as a ratio to the matching floor figure.
 */
import koffi from "koffi"
import * as fs from "node:fs"
import * as path from "node:path"

const LOCK_EX = 2
const LOCK_UN = 8
let flockFn: ((fd: number, op: number) => number) | undefined
const flock = (fd: number, op: number): void => {
  flockFn ??= koffi.load(null).func("int flock(int, int)") as unknown as (fd: number, op: number) => number
  if (flockFn(fd, op) !== 0) throw new Error("flock failed")
}

/** Holds the flock on `<dir>/state.lock` (a blocking call, as the Go tool makes) while `f` runs. */
export const withFloorLock = <A>(dir: string, f: () => A): A => {
  const fd = fs.openSync(path.join(dir, "state.lock"), "a+", 0o644)
  try {
    flock(fd, LOCK_EX)
    return f()
  } finally {
    flock(fd, LOCK_UN)
    fs.closeSync(fd)
  }
}

/** Reads and parses the state file. */
export const floorLoad = (dir: string): any => JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8"))

/** Writes `text` atomically: temp file, fsync, rename, directory fsync. */
export const floorWrite = (dir: string, text: string): void => {
  const temp = path.join(dir, `state.json.tmp${Math.floor(Math.random() * 2 ** 32)}`)
  const fd = fs.openSync(temp, "wx", 0o600)
  try {
    fs.writeSync(fd, text)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  fs.renameSync(temp, path.join(dir, "state.json"))
  const dirFd = fs.openSync(dir, "r")
  try {
    fs.fsyncSync(dirFd)
  } finally {
    fs.closeSync(dirFd)
  }
}

/** A read-modify-write under the lock, always writing (the floor does no change detection). */
export const floorUpdate = (dir: string, mutate: (state: any) => void): void =>
  withFloorLock(dir, () => {
    const state = floorLoad(dir)
    mutate(state)
    floorWrite(dir, JSON.stringify(state, null, 2))
  })

/** Lock, read, parse, unlock: what a no-op update costs without change detection. */
export const floorNoopUpdate = (dir: string): void => withFloorLock(dir, () => void floorLoad(dir))
