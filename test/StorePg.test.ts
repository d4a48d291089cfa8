/**
 * The PostgreSQL store on a real server (see StorePgServer.ts): the shared
 * contract, then what only a database can show.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Layer from "effect/Layer"
import * as StorePg from "../src/StorePg.js"
import { stateStoreContract } from "./contract/StateStoreContract.js"
import { clientLayer, freshDatabase } from "./StorePgServer.js"

const pgBackend = Effect.gen(function*() {
  const url = yield* freshDatabase
  const ctx = yield* Layer.build(clientLayer(url))
  return yield* StorePg.makeBackend().pipe(Effect.provide(ctx))
}).pipe(Effect.orDie)

stateStoreContract("PostgreSQL backend", pgBackend)

describe("StorePg connections", () => {
  it.live("a server that refuses connections is a typed StateIoError after the caller's retries, without the password", () =>
    Effect.gen(function*() {
      let attempts = 0
      const layer = StorePg.layerUrl("postgres://someone:secret@127.0.0.1:1/none", {
        retry: Schedule.recurs(2).pipe(Schedule.tapInput(() => Effect.sync(() => attempts++)))
      })
      const error = yield* Effect.flip(Effect.scoped(Layer.build(layer)))
      expect(error._tag).toBe("StateIoError")
      expect(error.message).not.toContain("secret")
      expect(attempts).toBe(3)
    }))
})
