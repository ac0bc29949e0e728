import { defineConfig } from 'vitest/config';

/** shared/ tests that need PostgreSQL or Redis run in the integration tier (on both databases). */
const INTEGRATION_SHARED = [
  'test/shared/db/**/*.test.ts',
  'test/shared/identity/**/*.test.ts',
  'test/shared/redis/**/*.test.ts',
  'test/shared/audit/**/*.test.ts',
  'test/shared/api-keys/**/*.test.ts',
  'test/shared/crypto/**/*.db.test.ts',
  'test/shared/tokens/**/*.test.ts',
  // Any shared/ test that needs PostgreSQL or Redis is named `*.db.test.ts`.
  'test/shared/**/*.db.test.ts',
];

/** The soak test (memory under sustained load), run on its own after the other tests. */
const SOAK = 'test/server/resilience/soak.test.ts';

export default defineConfig({
  test: {
    // Real PGlite instances and real processes: give them time, never retries.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/shared/**/*.test.ts', 'test/bot/i18n*.test.ts', 'test/webapp/**/*.test.ts'],
          exclude: INTEGRATION_SHARED,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: [...INTEGRATION_SHARED, 'test/server/**/*.test.ts', 'test/bot/**/*.test.ts'],
          exclude: ['test/bot/i18n*.test.ts', SOAK],
        },
      },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], fileParallelism: false } },
      // Memory trends need a machine that is not also running the rest of the suite: npm test runs it alone.
      { extends: true, test: { name: 'soak', include: [SOAK] } },
    ],
  },
});
