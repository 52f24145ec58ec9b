import { describe, expect, it } from 'vitest';
import { processPlan } from '../../../jobs/plan/process-plan.js';
import type { ChunkShares } from '../../../jobs/ports/chunk-shares.js';
import { ChunkDeferred } from '../../../jobs/score/errors/chunk-deferred.js';
import { processScore } from '../../../jobs/score/process-score.js';
import { fakeJobSpec, FAKE_INPUT_URI } from '../../helpers/memory-ports/fake-job-spec.js';
import { fakeInput } from '../../helpers/memory-ports/fake-readers.js';
import { makeFakeScorer } from '../../helpers/memory-ports/fake-scorer.js';
import { memoryPipelineDeps } from '../../helpers/memory-ports/memory-pipeline-deps.js';

/** Shares that admit while `free` slots are left, recording every take and release. */
function countingShares(free: number) {
  const events: string[] = [];
  const shares: ChunkShares = {
    take(tenant, _jobId, index) {
      if (free === 0) {
        events.push(`refused ${tenant} ${index}`);
        return Promise.resolve(undefined);
      }
      free -= 1;
      events.push(`took ${tenant} ${index}`);
      let released = false;
      return Promise.resolve({
        release() {
          if (!released) {
            released = true;
            free += 1;
            events.push(`released ${tenant} ${index}`);
          }
          return Promise.resolve();
        },
      });
    },
  };
  return { shares, events };
}

async function runningJob(free: number, failAtRow?: number) {
  const { shares, events } = countingShares(free);
  const deps = memoryPipelineDeps({
    chunkShares: shares,
    ...(failAtRow === undefined
      ? {}
      : { scorers: makeFakeScorer({ failAt: { row: failAtRow, permanent: false } }) }),
  });
  await deps.storage.write(`${FAKE_INPUT_URI}a.csv`, new TextEncoder().encode(fakeInput(20)));
  const { record } = await deps.store.create(fakeJobSpec(), { tenant: 'acme' });
  await processPlan(deps, record.id);
  const chunks = deps.queue.chunks.map((c) => c.chunk);
  return { deps, jobId: record.id, chunks, events };
}

describe('processScore under a tenant share', () => {
  it('defers a chunk over the share before its attempt begins: nothing scored, no attempt counted', async () => {
    const { deps, jobId, chunks, events } = await runningJob(0);
    await expect(processScore(deps, jobId, chunks[0]!)).rejects.toBeInstanceOf(ChunkDeferred);
    expect(events).toEqual(['refused acme 0']);
    expect(deps.scorers.scoredRows).toEqual([]);
    // Taken again later, it is the chunk's first attempt: no retry in the job's usage.
    const { shares } = countingShares(1);
    await processScore({ ...deps, chunkShares: shares }, jobId, chunks[0]!);
    const record = await deps.store.get(jobId);
    expect(record?.progress.chunksDone).toBe(1);
    expect(record?.usage?.retries ?? 0).toBe(0);
  });

  it('gives the slot back when the attempt commits and when it fails', async () => {
    const committed = await runningJob(1);
    await processScore(committed.deps, committed.jobId, committed.chunks[0]!);
    expect(committed.events).toEqual(['took acme 0', 'released acme 0']);

    const failed = await runningJob(1, 3);
    await expect(processScore(failed.deps, failed.jobId, failed.chunks[0]!)).rejects.toThrow();
    expect(failed.events).toEqual(['took acme 0', 'released acme 0']);
  });

  it('takes no slot for a job that is not running', async () => {
    const { deps, jobId, chunks, events } = await runningJob(0);
    await deps.store.transition(jobId, 'cancelling');
    await processScore(deps, jobId, chunks[0]!);
    expect(events).toEqual([]);
  });
});
