import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { UnrecoverableError } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { isStalledOut } from '../../../services/queue/bullmq-errors.js';

/**
 * The reason the installed BullMQ's stalled-jobs script stores on a job it fails for stalling too often
 * (`moveStalledJobsToWait-*.lua`, `local failedReason = "..."`), read from its source so an upgrade that
 * rewords or drops it fails this test.
 */
async function stalledOutReason(): Promise<string> {
  const bullmq = dirname(createRequire(import.meta.url).resolve('bullmq/package.json'));
  const commands = join(bullmq, 'dist', 'esm', 'commands');
  const scripts = (await readdir(commands)).filter((name) => /^moveStalledJobsToWait-\d+\.lua$/.test(name));
  expect(scripts).toHaveLength(1);
  const source = await readFile(join(commands, scripts[0]!), 'utf8');
  const reasons = [...source.matchAll(/local failedReason = "([^"]*)"/g)].map((m) => m[1]!);
  expect(reasons).toHaveLength(1);
  return reasons[0]!;
}

describe('isStalledOut', () => {
  it("recognises the installed BullMQ's failure of a job that stalled too often", async () => {
    const reason = await stalledOutReason();
    expect(isStalledOut(new UnrecoverableError(reason))).toBe(true);
  });

  it('does not take other failures for it', () => {
    expect(isStalledOut(new UnrecoverableError('CSV_INVALID: unclosed quote (s3://b/in.csv, row 3)'))).toBe(
      false,
    );
    expect(isStalledOut(new Error('job started more than allowable limit'))).toBe(false);
    expect(isStalledOut(new Error('CHUNK_STALLED: no progress for 600 s'))).toBe(false);
  });
});
