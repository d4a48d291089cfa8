import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Cross-process tests spawn Node and python3 peers; give them room on 2-core machines.
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
