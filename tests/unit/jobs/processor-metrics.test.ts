import { describe, expect, it } from 'vitest';
import { processDeliver } from '../../../jobs/deliver/process-deliver.js';
import type { Metrics } from '../../../jobs/ports/metrics.js';
import { processPlan } from '../../../jobs/plan/process-plan.js';
import { processScore } from '../../../jobs/score/process-score.js';
import { fakeInput } from '../../helpers/memory-ports/fake-readers.js';
import { FAKE_INPUT_URI, fakeJobSpec } from '../../helpers/memory-ports/fake-job-spec.js';
import { makeMemoryDeliveryLedger } from '../../helpers/memory-ports/memory-delivery-ledger.js';
import { makeMemoryJobStore } from '../../helpers/memory-ports/memory-job-store.js';
import { memoryPipelineDeps } from '../../helpers/memory-ports/memory-pipeline-deps.js';
import { makeRecordingLog } from '../../helpers/recording-log.js';

/** A {@link Metrics} that keeps every report, in order. */
function recordingMetrics() {
  const reports: unknown[][] = [];
  const metrics: Metrics = {
    rowsScored: (...args) => void reports.push(['rowsScored', ...args]),
    chunkFinished: (outcome, seconds) => void reports.push(['chunkFinished', outcome, typeof seconds]),
    webhookAttempt: (outcome, seconds) => void reports.push(['webhookAttempt', outcome, seconds]),
  };
  return { metrics, reports };
}

/** A planned job over one CSV object of `rows` rows (chunks of 10), its deps reporting to `metrics`. */
async function runningJob(rows: number, metrics: Metrics, spec: Parameters<typeof fakeJobSpec>[0] = {}) {
  const deps = { ...memoryPipelineDeps(), metrics };
  await deps.storage.write(`${FAKE_INPUT_URI}a.csv`, new TextEncoder().encode(fakeInput(rows)));
  const { record } = await deps.store.create(fakeJobSpec(spec));
  await processPlan(deps, record.id);
  return { deps, jobId: record.id, chunks: deps.queue.chunks.map((c) => c.chunk) };
}

describe('what processScore reports', () => {
  it('a committed chunk: its rows and refused rows, once, however often it runs', async () => {
    const { metrics, reports } = recordingMetrics();
    const { deps, jobId, chunks } = await runningJob(10, metrics, {
      errors: { onInvalidRow: 'skip', maxInvalidFraction: 0.5 },
    });
    deps.scorers.options.reject = (_uri, row) => row === 2 || row === 7;
    await processScore(deps, jobId, chunks[0]!);
    await processScore(deps, jobId, chunks[0]!);
    expect(reports).toEqual([
      ['rowsScored', 8, 2],
      ['chunkFinished', 'committed', 'number'],
    ]);
  });

  it('a superseded attempt: no rows, outcome superseded', async () => {
    const { metrics, reports } = recordingMetrics();
    const { deps, jobId, chunks } = await runningJob(10, metrics);
    deps.scorers.options.beforeCall = async (rowStart) => {
      if (rowStart === 0) await deps.store.beginAttempt(jobId, 0, 'other-attempt');
    };
    await processScore(deps, jobId, chunks[0]!);
    expect(reports).toEqual([['chunkFinished', 'superseded', 'number']]);
  });
});

describe('what processDeliver reports', () => {
  it('each attempt it records, by the delivery’s status after it, with its duration', async () => {
    const { metrics, reports } = recordingMetrics();
    let now = new Date('2026-03-01T12:00:00.000Z');
    const clock = () => now;
    const store = makeMemoryJobStore({ now: clock });
    const { record } = await store.create(
      fakeJobSpec({ webhook: { url: 'https://hooks.example.com/q', secret: 'whsec_c2VjcmV0' } }),
    );
    for (const to of ['planning', 'finalizing', 'succeeded'] as const) await store.transition(record.id, to);
    const ledger = makeMemoryDeliveryLedger({ now: clock });
    ledger.put({
      id: 'msg_test',
      jobId: record.id,
      event: 'job.succeeded',
      url: 'https://hooks.example.com/q',
      status: 'pending',
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
      attempts: [],
      scheduleFrom: 1,
    });
    const statusCodes = [503, 200];
    const deps = {
      ledger,
      jobs: store,
      send: () => {
        // Each attempt takes 250 ms on the clock.
        now = new Date(now.getTime() + 250);
        const statusCode = statusCodes.shift() ?? 500;
        return Promise.resolve({ kind: 'response' as const, statusCode });
      },
      schedule: () => Promise.resolve(),
      policy: { scheduleMs: [1_000], jitter: 0 },
      now: clock,
      log: makeRecordingLog(),
      metrics,
    };
    const payload = (attempt: number) => ({ jobId: record.id, deliveryId: 'msg_test', attempt });
    await processDeliver(deps, payload(1));
    await processDeliver(deps, payload(2));
    // Made already: not sent, not counted.
    await processDeliver(deps, payload(2));
    expect(reports).toEqual([
      ['webhookAttempt', 'pending', 0.25],
      ['webhookAttempt', 'delivered', 0.25],
    ]);
  });
});
