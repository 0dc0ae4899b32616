import { defineConfig } from 'vitest/config';

/**
 * Three tiers: unit (parallel, no I/O beyond temp dirs), integration (real SQLite, sharp,
 * child processes), e2e (Playwright + Debian Chromium against `pinhole serve`, sequential).
 * Integration and e2e tests run the built CLI (`npm run build` first; `npm test` does it).
 */
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['tests/unit/**/*.test.ts'], testTimeout: 20_000 } },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // One file at a time: these run real processes (the CLI, the engine) that each want
          // both cores; in parallel on a 2-core machine they only slow each other into timeouts.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
