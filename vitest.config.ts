import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    pool: 'forks',
    // A fork per core: the test files are CPU-bound and vitest's own process mostly waits.
    // (Its default leaves a core to itself, which on a 2-core machine runs one file at a time.)
    maxWorkers: availableParallelism(),
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
