import { defineConfig } from "vitest/config";
import path from "node:path";
import LongestFirstSequencer from "./lib/launcher/vitest-sequencer.ts";

export default defineConfig({
  resolve: {
    alias: {
      "@": path.resolve(import.meta.dirname),
      // `server-only` throws outside Next's react-server condition; unit tests import server modules directly.
      "server-only": path.resolve(import.meta.dirname, "node_modules/server-only/empty.js"),
    },
  },
  test: {
    include: ["{lib,agent,components,app,bench,lint,deploy}/**/*.test.{ts,tsx}"],
    // The release test makes a standalone `next build` (minutes of both cores): npm test runs it as
    // a phase of its own, alone (LIFEBOAT_RELEASE_TEST=1), not beside timing-sensitive tests.
    // The dashboard front's test runs on the browser tests' build: npm test runs it after its build
    // phase (LIFEBOAT_FRONT_TEST=1), not in the main phase, which runs before there is a build.
    exclude:
      process.env.LIFEBOAT_RELEASE_TEST === "1" || process.env.LIFEBOAT_FRONT_TEST === "1"
        ? ["**/node_modules/**"]
        : ["**/node_modules/**", "lib/launcher/build-release.test.ts", "lib/http/dashboard-server.test.ts"],
    environment: "node",
    // Temporary files under one directory of the run, removed at its end (lib/launcher/test-scratch.ts).
    globalSetup: ["lib/launcher/test-scratch.ts"],
    // Integration tests start real servers and processes; give them room on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // One retry on CI (a shared 2-core machine, timing-sensitive integration tests): a test that fails
    // twice fails the run, and npm test's summary names every test that needed the retry, with its error.
    retry: process.env.CI ? 1 : 0,
    pool: "forks",
    // Longest files first, from vitest's cache or the committed durations of a full run, so the two forks end together.
    sequence: { sequencer: LongestFirstSequencer },
    // Three forks on two cores: each file costs its fork ~1 s to start (process, transform, imports)
    // outside any test, and many integration tests wait on the processes they start. Measured on the
    // full suite (CI=1, 2 cores, longest files first): 2 forks 430 s, 3 forks 361 s, same CPU time.
    maxWorkers: 3,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true", LOG_LEVEL: "silent" },
  },
});
