import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['tests/unit/**/*.test.ts'], environment: 'node' } },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts', 'tests/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Integration tests start servers and child processes; forks keep native addons isolated.
          pool: 'forks',
          // A file that leaves a connection, timer or child open fails (the anchors' "a test fails if it leaks").
          setupFiles: ['tests/setup/fail-on-leaked-resources.ts'],
          // The leak check's afterAll is registered first; as a stack (the default, relied on) it runs last.
          sequence: { hooks: 'stack' },
        },
      },
      {
        test: {
          name: 'timing',
          include: ['tests/timing/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          pool: 'forks',
          fileParallelism: false,
        },
      },
    ],
  },
});
