import { describe, expect, it } from 'vitest';
import { processDeliver } from '../../../jobs/deliver/process-deliver.js';
import type { Metrics } from '../../../jobs/ports/metrics.js';
import { processPlan } from '../../../jobs/plan/process-plan.js';
import { processScore } from '../../../jobs/score/process-score.js';
import { FAKE_INFER_SECONDS, FAKE_MAP_SECONDS } from '../../helpers/memory-ports/fake-scorer.js';
import { fakeInput } from '../../helpers/memory-ports/fake-readers.js';
import { FAKE_INPUT_URI, fakeJobSpec } from '../../helpers/memory-ports/fake-job-spec.js';
import { makeMemoryDeliveryLedger } from '../../helpers/memory-ports/memory-delivery-ledger.js';
import { makeMemoryJobStore } from '../../helpers/memory-ports/memory-job-store.js';
import { memoryPipelineDeps } from '../../helpers/memory-ports/memory-pipeline-deps.js';
import { makeRecordingLog } from '../../helpers/recording-log.js';

/** A {@link Metrics} that keeps every report, in order. */
function recordingMetrics() {
  const reports: unknown[][] = [];
  /** Stage seconds and bytes, summed by stage and direction. */
  const stages: Record<string, number> = {};
  const bytes: Record<string, number> = {};
  const metrics: Metrics = {
    rowsScored: (...args) => void reports.push(['rowsScored', ...args]),
    chunkFinished: (outcome, seconds) => void reports.push(['chunkFinished', outcome, typeof seconds]),
    webhookAttempt: (outcome, seconds) => void reports.push(['webhookAttempt', outcome, seconds]),
    stageSeconds: (stage, seconds) => void (stages[stage] = (stages[stage] ?? 0) + seconds),
    storageBytes: (direction, n) => void (bytes[direction] = (bytes[direction] ?? 0) + n),
  };
  return { metrics, reports, stages, bytes };
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
    // The superseded attempt is charged to the job, and counted as superseded.
    const usage = (await deps.store.get(jobId))?.usage;
    expect(usage).toMatchObject({ supersededAttempts: 1, retries: 1 });
    expect(usage?.bytesRead).toBeGreaterThan(0);
  });

  it('where a committed attempt spent its time, what it moved, and what the job is charged', async () => {
    const { metrics, stages, bytes } = recordingMetrics();
    const { deps, jobId, chunks } = await runningJob(30, metrics);
    let cpuStarted = 0;
    const cpu = { start: () => ((cpuStarted += 1), { stop: () => 0.25 }) };
    for (const chunk of chunks) await processScore({ ...deps, cpu }, jobId, chunk);
    expect(cpuStarted).toBe(3);
    // Chunks of 10 rows read in batches of 4: 3 calls each, every one reporting its mapping and run time.
    const calls = 3 * 3;
    expect(stages.map).toBeCloseTo(calls * FAKE_MAP_SECONDS, 9);
    expect(stages.infer).toBeCloseTo(calls * FAKE_INFER_SECONDS, 9);
    for (const stage of ['read', 'decode', 'write', 'commit']) expect(stages[stage]).toBeGreaterThan(0);
    const input = (await deps.storage.stat(`${FAKE_INPUT_URI}a.csv`)).size;
    // Each chunk reads its byte range of the one object (the fake reader reads the whole range).
    expect(bytes.read).toBeGreaterThanOrEqual(input);
    const record = await deps.store.get(jobId);
    const written = [...deps.storage.objects.entries()]
      .filter(([uri]) => uri.startsWith(record!.output.uri))
      .reduce((n, [, body]) => n + body.byteLength, 0);
    // Parts, segment markers and commit markers: everything under the job's folder so far.
    expect(bytes.written).toBe(written);
    expect(record?.usage).toMatchObject({
      cpuSeconds: 0.75,
      deviceSeconds: calls * FAKE_INFER_SECONDS,
      bytesRead: bytes.read,
      bytesWritten: written,
      retries: 0,
      supersededAttempts: 0,
    });
    expect(record?.usage?.scoringSeconds).toBeGreaterThanOrEqual(0);
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
