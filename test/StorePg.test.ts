/**
 * The PostgreSQL store on a real server (see StorePgServer.ts): the shared
 * contract, then what only a database can show.
 */
import * as Effect from "effect/Effect"
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
