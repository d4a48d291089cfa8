/**
 * Recycled memory for the file store's whole-file buffers: the bytes read
 * from a small state file and the bytes encoded to write it.
 *
 * Why: every buffer's memory lies outside V8's heap, and V8 (up to at least
 * the 11.3 in Node 20) counts each byte of it allocated since the last full
 * collection as old generation. With 73 kB read and 73 kB encoded per
 * contended update, and the store's young objects too few to fill the
 * young generation first, that count reached V8's soft limit about every
 * 50 updates and started a full mark-compact each time (16 per 1 000
 * updates at 2 processes, none for the floor, whose strings live on the
 * heap; see BENCHMARKS.md). Memory handed back here is moved to a new
 * `ArrayBuffer` (`structuredClone` with a transfer: no copy, and V8's count
 * does not grow), so a store that reads and writes the same file over and
 * over allocates nothing new.
 *
 * Handing back detaches the buffer: every view into it becomes empty. So a
 * caller hands back only a buffer it alone still reads, and every cache of
 * views into such buffers (the codec's `sourceBytes` and `entryBytes`)
 * takes an empty view as no entry (a record's bytes are never empty).
 */

/** Above this size a buffer is allocated as usual: a large state is read and written rarely, and holding spares of it would cost more than its collection. */
export const maxPooledBytes = 1 << 20

/** At most this many spares: a read and an encode per update, a few updates apart. */
const maxSpares = 4

/** The buffers this module allocated and has not taken back: the only ones `give` detaches. */
const owned = new WeakSet<ArrayBufferLike>()

/** Spare memory, each in an `ArrayBuffer` nothing else views. */
const spares: Array<ArrayBuffer> = []

/** Room for a file that grows a little between reads (a counter, a timestamp), so its spare still fits. */
const capacityFor = (size: number): number => (size + 4096 + 4095) & ~4095

/**
 * A `Buffer` of `size` bytes (uninitialised, as `Buffer.allocUnsafe`) whose
 * memory nothing else views, recycled when a spare of about that size is
 * there. A small one (Node's pool) or a large one is allocated as usual.
 * Never fails but as `Buffer.allocUnsafe` does.
 */
export const take = (size: number): Buffer => {
  if (size <= Buffer.poolSize >>> 1 || size > maxPooledBytes) return Buffer.allocUnsafe(size)
  for (let i = spares.length - 1; i >= 0; i--) {
    const spare = spares[i]!
    // Not one much larger than needed: its memory would be held for nothing.
    if (spare.byteLength >= size && spare.byteLength <= 2 * size) {
      spares.splice(i, 1)
      return Buffer.from(spare, 0, size)
    }
  }
  const memory = Buffer.allocUnsafeSlow(capacityFor(size)).buffer
  owned.add(memory)
  return Buffer.from(memory, 0, size)
}

/**
 * Takes back the memory of `bytes` if `take` allocated it, for a later
 * `take`; every view into it, `bytes` included, is then empty. The caller
 * must be the last reader of those bytes. Anything else (a small or large
 * buffer, one handed back already, `undefined`) is left as it is.
 */
export const give = (bytes: Uint8Array | undefined): void => {
  if (bytes === undefined) return
  const memory = bytes.buffer
  if (!owned.has(memory)) return
  owned.delete(memory)
  // No room: left to the collector, and its views stay readable.
  if (spares.length >= maxSpares) return
  let moved: ArrayBuffer
  try {
    moved = structuredClone(memory as ArrayBuffer, { transfer: [memory as ArrayBuffer] })
  } catch {
    // Not transferable (marked so by someone else): left to the collector, its views intact. Never a failure:
    // the file store hands buffers back after a write is in place.
    return
  }
  owned.add(moved)
  spares.push(moved)
}
