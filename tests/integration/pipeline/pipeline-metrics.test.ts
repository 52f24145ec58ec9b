import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submitJob } from '../../../jobs/submit-job.js';
import { modelPath } from '../../../scripts/lib/models.js';
import { makeMetricsRegistry, makeWorkerMetrics } from '../../../services/process/metrics.js';
import { featureColumns, startPipeline, writeDataset, type TestPipeline } from '../../helpers/pipeline.js';
import { parseScrape, sampleValue } from '../../helpers/prometheus-scrape.js';
import { startS3Server, type TestS3Server } from '../../helpers/s3-server.js';

describe('worker metrics of a real job (real Redis, S3-protocol server, ONNX Runtime)', () => {
  let s3: TestS3Server;
  let pipeline: TestPipeline;
  const registry = makeMetricsRegistry();

  beforeAll(async () => {
    s3 = await startS3Server();
    for (const bucket of ['events', 'models', 'scores']) await s3.createBucket(bucket);
    await s3.storage.write('s3://models/m.onnx', await readFile(await modelPath('tabular-mlp')));
    await writeDataset(s3.storage, 's3://events/in/', [
      ['part-a.parquet', 0, 5_000],
      ['part-b.parquet', 5_000, 3_000],
    ]);
    // f3 is null at id 300: under `nulls: fail` that chunk fails permanently.
    await writeDataset(s3.storage, 's3://events/bad/', [['part-a.parquet', 0, 4_000]], { nullAt: 300 });
    pipeline = await startPipeline({ storage: s3.storage, metrics: makeWorkerMetrics(registry) });
  }, 120_000);

  afterAll(async () => {
    await pipeline?.close();
    await s3?.close();
  });

  const spec = (input: string) => ({
    name: 'metrics',
    input: { uri: input, format: 'parquet' as const },
    model: {
      uri: 's3://models/m.onnx',
      inputs: { features: { columns: featureColumns, nulls: 'fail' as const } },
      outputs: { score: { column: 'score' } },
    },
    output: { uri: 's3://scores/metrics/', format: 'parquet' as const, passthrough: ['id'] },
    batch: { rows: 1_024, chunkRows: 2_048 },
  });

  it('moves rows and committed chunks by exactly the job’s rows and chunks', async () => {
    const before = parseScrape(await registry.metrics());
    const { record } = await submitJob(
      { store: pipeline.store, queue: pipeline.queues },
      spec('s3://events/in/'),
    );
    const done = await pipeline.settle(record.id);
    expect(done.status).toBe('succeeded');
    expect(done.progress.rowsScored).toBe(8_000);
    expect(done.progress.chunksTotal).toBeGreaterThan(1);

    const after = parseScrape(await registry.metrics());
    const moved = (name: string, labels: Record<string, string> = {}) =>
      sampleValue(after, name, labels) - sampleValue(before, name, labels);
    expect(moved('quiver_rows_scored_total')).toBe(8_000);
    expect(moved('quiver_rows_rejected_total')).toBe(0);
    expect(moved('quiver_chunks_total', { outcome: 'committed' })).toBe(done.progress.chunksTotal);
    expect(moved('quiver_chunk_duration_seconds')).toBe(done.progress.chunksTotal);
    for (const outcome of ['superseded', 'retried', 'failed']) {
      expect(moved('quiver_chunks_total', { outcome })).toBe(0);
    }
  }, 120_000);

  it('counts the chunk that fails permanently as failed, not retried', async () => {
    const before = parseScrape(await registry.metrics());
    const { record } = await submitJob(
      { store: pipeline.store, queue: pipeline.queues },
      spec('s3://events/bad/'),
    );
    const done = await pipeline.settle(record.id);
    expect(done.error?.code).toBe('FEATURE_NULL');
    // BullMQ's `failed` event comes after the processor recorded the failure.
    const moved = async (outcome: string) =>
      sampleValue(parseScrape(await registry.metrics()), 'quiver_chunks_total', { outcome }) -
      sampleValue(before, 'quiver_chunks_total', { outcome });
    await expect.poll(() => moved('failed')).toBe(1);
    expect(await moved('retried')).toBe(0);
  }, 120_000);
});
