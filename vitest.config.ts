import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Timestamp.now writes the local offset, as Go does: pin the zone so tests read the same everywhere.
    env: { TZ: "UTC" },
    // Most test time is spent waiting for spawned Node and python3 processes: two files at a
    // time, even on 2 cores (vitest's default there is one).
    maxWorkers: 2,
    minWorkers: 1,
    // Cross-process tests spawn Node and python3 peers; give them room on 2-core machines.
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
