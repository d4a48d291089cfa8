/**
 * The floor: the same file work as the store, done directly, with no
 * Schema and no Effect: flock, read, JSON.parse, change, JSON.stringify
 * with a 2-space indent, temp file (0600), fsync, rename, directory fsync,
 * unlock. It is the cheapest correct way to do the job in Node, so every
 * store figure is reported as a ratio to the matching floor figure.
 * Synchronous node:fs throughout: nothing else runs in a benchmark process,
 * and sync calls are the fastest straightforward path.
 */
import koffi from "koffi"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"

const LOCK_EX = 2
const LOCK_UN = 8

type Flock = (fd: number, op: number) => number
let flockFn: Flock | undefined
const flock = (fd: number, op: number): void => {
  // Bound on first use, so importing the floor (e.g. for floorRead alone) costs no FFI set-up.
  flockFn ??= koffi.load(null).func("int flock(int, int)") as unknown as Flock
  if (flockFn(fd, op) !== 0) throw new Error(`flock(${fd}, ${op}) failed`)
}

/**
 * Holds flock(LOCK_EX) on `<dir>/state.lock` while `f` runs. The call
 * blocks the thread, as the Go tool's does: fine for a floor, whose
 * process has nothing else to do while it waits.
 */
export const withFloorLock = <A>(dir: string, f: () => A): A => {
  const fd = fs.openSync(path.join(dir, "state.lock"), "a+", 0o644)
  try {
    flock(fd, LOCK_EX)
    try {
      return f()
    } finally {
      flock(fd, LOCK_UN)
    }
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * Reads and parses `<dir>/state.json` with no lock, as the store's load
 * does (writers rename whole files into place, so a read never sees half a
 * write). The floor of a cold load: no validation, no conversion.
 */
export const floorRead = (dir: string): any => JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8"))

/** `floorRead` under its older name, kept for the size worker. */
export const floorLoad = floorRead

/**
 * Replaces `<dir>/state.json` with `text` the crash-safe way the Go tool
 * does: a 0600 temp file in the same directory, fsync, rename over, fsync
 * the directory so the rename itself is durable.
 */
export const floorWrite = (dir: string, text: string): void => {
  const temp = path.join(dir, `state.json.tmp${crypto.randomInt(2 ** 47)}`)
  const fd = fs.openSync(temp, "wx", 0o600)
  try {
    fs.writeSync(fd, text)
    fs.fsyncSync(fd)
  } catch (error) {
    fs.closeSync(fd)
    fs.rmSync(temp, { force: true })
    throw error
  }
  fs.closeSync(fd)
  fs.renameSync(temp, path.join(dir, "state.json"))
  const dirFd = fs.openSync(dir, "r")
  try {
    fs.fsyncSync(dirFd)
  } finally {
    fs.closeSync(dirFd)
  }
}

/**
 * Read-modify-write under the lock. Always writes: the floor does no
 * change detection, which is exactly what the store's skip-if-unchanged
 * is measured against. `mutate` changes the parsed value in place.
 */
export const floorUpdate = (dir: string, mutate: (state: any) => void): void =>
  withFloorLock(dir, () => {
    const state = floorRead(dir)
    mutate(state)
    floorWrite(dir, JSON.stringify(state, null, 2))
  })

/**
 * Lock, read, parse, unlock: the least an update that changes nothing can
 * cost without knowing the file unchanged; the store's no-op update is
 * measured against it.
 */
export const floorNoopUpdate = (dir: string): void => withFloorLock(dir, () => void floorRead(dir))

/**
 * The top-level key the contention benchmark counts in. An unknown key,
 * which the store keeps through a read-modify-write, so both the floor and
 * the store can increment the same counter in the same file.
 */
export const COUNTER_KEY = "bench_counter"

/** One contention step of the floor: increment `COUNTER_KEY` under the lock. */
export const floorIncrement = (dir: string): void =>
  floorUpdate(dir, (state) => {
    const n = state[COUNTER_KEY]
    state[COUNTER_KEY] = (typeof n === "number" ? n : 0) + 1
  })

/** Reads the counter back (no lock: the parent reads only after every worker exited). */
export const readCounter = (dir: string): unknown => floorRead(dir)[COUNTER_KEY]
