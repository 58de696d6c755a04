import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// Peers skipped on a developer's machine are summed up in one closing line
// (test/helpers/missing-peers.ts); workers inherit this variable.
process.env.LOOPSSH_MISSING_PEERS_FILE ??= join(tmpdir(), `loopssh-missing-peers-${process.pid}.txt`);

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // Transfers are CPU-bound; two workers match the 2-core machines.
    maxWorkers: 2,
    reporters: process.env.CI
      ? ['default', './test/helpers/missing-peers.ts', ['json', { outputFile: '.ci/vitest-results.json' }]]
      : ['default', './test/helpers/missing-peers.ts'],
  },
});
