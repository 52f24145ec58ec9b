import { afterAll } from 'vitest';
import { describeResources, settledLeaks } from '../helpers/leaked-resources.js';

/**
 * Fails a test file that leaves a connection, a server, a timer or a child process open after its own
 * `afterAll`: a leak in one file slows or hangs the ones after it and hides the same leak in the service.
 * Taken when the setup file loads, before the test file is imported, so what a test file opens at its top
 * level counts too. Hooks run as a stack, so this `afterAll`, registered first, runs after the file's own.
 */
const before = process.getActiveResourcesInfo();

afterAll(async () => {
  const leaked = await settledLeaks(before, { graceMs: 2_000, pollMs: 25 });
  if (leaked.length > 0) {
    throw new Error(
      `left open after afterAll: ${describeResources(leaked)}; ` +
        'quit every Redis connection, close every server, clear every timer, kill and await every child',
    );
  }
});
