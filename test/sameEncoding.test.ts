/**
 * `codec.sameEncoding`, which lets a store without whole encodings (the
 * PostgreSQL backend) skip a write that would change nothing: it must agree
 * with comparing the two states' full encodings.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as fs from "node:fs"
import * as path from "node:path"
import * as codec from "../src/internal/codec.js"
import * as Schema from "../src/Schema.js"

const golden = fs.readFileSync(path.join(import.meta.dirname, "fixtures", "golden", "full_realistic.expected.json"))
const base = Either.getOrThrow(codec.normalize(Either.getOrThrow(Schema.decodeEither(golden))))

/** The state normalised for writing, as the store hands it over. */
const checked = (state: Schema.State) => Either.getOrThrow(codec.normalize(state))
const agrees = (a: Schema.State, b: Schema.State) => {
  const same = codec.sameEncoding(a, b)
  expect(same).toBe(codec.encode(a) === codec.encode(b))
  return same
}
const firstJob = Object.keys(base.jobs)[0]!

describe("sameEncoding", () => {
  it("the same state, and every record copied into new objects, encode the same", () => {
    expect(agrees(base, base)).toBe(true)
    const copied = checked({
      ...base,
      repos: { ...base.repos },
      jobs: Object.fromEntries(Object.entries(base.jobs).map(([id, job]) => [id, { ...job }]))
    })
    expect(copied.jobs[firstJob]).not.toBe(base.jobs[firstJob])
    expect(agrees(base, copied)).toBe(true)
  })

  it("a changed field, a removed record, an added record or other unknown fields differ", () => {
    const job = base.jobs[firstJob]!
    expect(agrees(base, checked({ ...base, jobs: { ...base.jobs, [firstJob]: { ...job, feedback: `${job.feedback ?? ""}!` } } }))).toBe(false)
    const { [firstJob]: _removed, ...rest } = base.jobs
    expect(agrees(base, checked({ ...base, jobs: rest }))).toBe(false)
    expect(agrees(base, checked({ ...base, jobs: { ...base.jobs, another: job } }))).toBe(false)
    expect(agrees(base, checked({ ...base, unknownFields: { ...base.unknownFields, added: 1 } }))).toBe(false)
    // Removing one and adding another keeps the count: still different.
    expect(agrees(base, checked({ ...base, jobs: { ...rest, another: job } }))).toBe(false)
  })
})
