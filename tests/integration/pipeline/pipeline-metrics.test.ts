import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submitJob } from '../../../jobs/submit-job.js';
import { modelPath } from '../../../scripts/lib/models.js';
import { makeMetricsRegistry, makeWorkerMetrics } from '../../../services/process/metrics.js';
import { featureColumns, startPipeline, writeDataset, type TestPipeline } from '../../helpers/pipeline.js';
import { histogramOf, parseScrape, sampleValue } from '../../helpers/prometheus-scrape.js';
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

    // Where the time went: every stage of a real S3 Parquet job took some.
    for (const stage of ['read', 'decode', 'map', 'infer', 'write', 'commit']) {
      expect(moved('quiver_stage_seconds_total', { stage }), stage).toBeGreaterThan(0);
    }
    // Inference calls of at most the job's batch rows, on the CPU, whose busy time the counter and ratio show
    // (series per device appear with the device's first call: this job's).
    expect(before.get('quiver_batch_rows')?.type).toBe('HISTOGRAM');
    const batches = await histogramOf(registry, 'quiver_batch_rows', { device: 'cpu' });
    expect(batches.count).toBeGreaterThanOrEqual(8_000 / 1_024);
    expect(batches.sum).toBe(8_000);
    expect(batches.buckets.get(256)).toBe(0);
    expect(batches.buckets.get(1024)).toBe(batches.count);
    const busy = sampleValue(after, 'quiver_device_busy_seconds_total', { device: 'cpu' });
    expect(busy).toBeGreaterThan(0);
    expect(moved('quiver_stage_seconds_total', { stage: 'infer' })).toBeCloseTo(busy, 6);
    const ratio = sampleValue(after, 'quiver_device_busy_ratio', { device: 'cpu' });
    expect(ratio).toBeGreaterThan(0);
    expect(ratio).toBeLessThanOrEqual(1);

    // Bytes: at least the input objects; exactly what the job's folder holds (parts and markers), and the
    // job's usage and manifest say the same.
    const inputBytes = (
      await Promise.all(['part-a', 'part-b'].map((p) => s3.storage.stat(`s3://events/in/${p}.parquet`)))
    ).reduce((n, info) => n + info.size, 0);
    const read = moved('quiver_storage_bytes_total', { direction: 'read' });
    expect(read).toBeGreaterThanOrEqual(inputBytes);
    let folder = 0;
    for await (const object of s3.storage.list(done.output.uri)) {
      if (!/_manifest\.json$|_SUCCESS$|_report\.json$/.test(object.uri)) folder += object.size;
    }
    expect(moved('quiver_storage_bytes_total', { direction: 'written' })).toBe(folder);
    expect(done.usage).toMatchObject({
      bytesRead: read,
      bytesWritten: folder,
      retries: 0,
      supersededAttempts: 0,
    });
    expect(done.usage?.cpuSeconds).toBeGreaterThan(0);
    expect(done.usage?.deviceSeconds).toBeCloseTo(busy, 2);
    expect(done.usage?.rowsPerSecond).toBeGreaterThan(0);
    const manifest = JSON.parse(
      new TextDecoder().decode(await s3.storage.read(done.output.manifestUri!)),
    ) as { usage?: unknown };
    expect(manifest.usage).toEqual(done.usage);
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
