import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submitJob } from '../../../jobs/submit-job.js';
import type { DeviceClass } from '../../../schemas/device-class.js';
import { modelPath } from '../../../scripts/lib/models.js';
import { makeMetricsRegistry, registerQueueMetrics } from '../../../services/process/metrics.js';
import { featureColumns, startPipeline, writeDataset, type TestPipeline } from '../../helpers/pipeline.js';
import { parseScrape, sampleValue } from '../../helpers/prometheus-scrape.js';
import type { RecordingLog } from '../../helpers/recording-log.js';
import { startS3Server, type TestS3Server } from '../../helpers/s3-server.js';

const ROWS = 16_000;

/**
 * Two workers on one deployment's queues: one CPU-only (cpu, any) and one of the GPU class (gpu, any; it
 * scores on the CPU here, which is all routing needs).
 */
describe('device classes (two in-process workers, real Redis, S3-protocol server, ONNX Runtime)', () => {
  let s3: TestS3Server;
  let cpuWorker: TestPipeline;
  let gpuWorker: TestPipeline | undefined;

  beforeAll(async () => {
    s3 = await startS3Server();
    for (const bucket of ['events', 'models', 'scores']) await s3.createBucket(bucket);
    await s3.storage.write('s3://models/m.onnx', await readFile(await modelPath('tabular-mlp')));
    await writeDataset(s3.storage, 's3://events/in/', [['part-a.parquet', 0, ROWS]], { rowGroupRows: 1_000 });
    cpuWorker = await startPipeline({ storage: s3.storage, scoreClasses: ['cpu', 'any'] });
  }, 120_000);

  afterAll(async () => {
    // The GPU-class worker joined the CPU worker's prefix: it closes first, the owner deletes the keys.
    await gpuWorker?.close();
    await cpuWorker?.close();
    await s3?.close();
  });

  const startGpuWorker = () =>
    startPipeline({ storage: s3.storage, scoreClasses: ['gpu', 'any'], prefix: cpuWorker.prefix });
  const submit = async (device: DeviceClass) => {
    const { record } = await submitJob(
      { store: cpuWorker.store, queue: cpuWorker.queues },
      {
        name: `device-${device}`,
        input: { uri: 's3://events/in/', format: 'parquet' },
        model: {
          uri: 's3://models/m.onnx',
          inputs: { features: { columns: featureColumns } },
          outputs: { score: { column: 'score' } },
        },
        output: { uri: `s3://scores/${device}/`, format: 'parquet', passthrough: ['id'] },
        batch: { rows: 1_024, chunkRows: 1_000 },
        resources: { device },
      },
    );
    return record.id;
  };
  /** The chunks of `jobId` a worker took (any record of a chunk attempt), and those it committed first. */
  const chunksOf = (log: RecordingLog, jobId: string) => {
    const own = log.records.filter((r) => r.jobId === jobId && r.chunk !== undefined);
    return {
      taken: new Set(own.map((r) => r.chunk as number)),
      committed: own
        .filter((r) => r.msg === 'chunk committed' && r.first === true)
        .map((r) => r.chunk as number),
    };
  };

  it('leaves a gpu job waiting on score-gpu while only a CPU worker runs, and counts it per class', async () => {
    const gpuJob = await submit('gpu');
    const deadline = Date.now() + 30_000;
    let chunksTotal = 0;
    for (;;) {
      const record = await cpuWorker.store.get(gpuJob);
      chunksTotal = record?.progress.chunksTotal ?? 0;
      const waiting = (await cpuWorker.queues.depths())['score-gpu'].waiting;
      if (record?.status === 'running' && chunksTotal > 0 && waiting === chunksTotal) break;
      if (Date.now() > deadline) throw new Error(`gpu job not queued: ${record?.status}, ${waiting} waiting`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(chunksTotal).toBeGreaterThan(4);
    // A while later, still nothing taken: the CPU worker does not consume score-gpu.
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await cpuWorker.store.get(gpuJob))?.progress.chunksDone).toBe(0);
    expect(chunksOf(cpuWorker.log, gpuJob).taken.size).toBe(0);

    // /v1/queues serves `depths()` as is; /metrics the series below (the API's registry has the same).
    const depths = await cpuWorker.queues.depths();
    expect(depths['score-gpu']).toMatchObject({ waiting: chunksTotal, active: 0, backlog: chunksTotal });
    expect(depths['score-cpu'].backlog).toBe(0);
    expect(depths['score-any'].backlog).toBe(0);
    expect(depths.score.backlog).toBe(chunksTotal);
    const registry = makeMetricsRegistry();
    registerQueueMetrics(registry, cpuWorker.queues);
    const scrape = parseScrape(await registry.metrics());
    const jobs = (queue: string) => sampleValue(scrape, 'quiver_queue_jobs', { queue, state: 'prioritized' });
    expect([jobs('score-gpu'), jobs('score-cpu'), jobs('score-any'), jobs('score')]).toEqual([
      chunksTotal,
      0,
      0,
      chunksTotal,
    ]);
    expect(
      sampleValue(scrape, 'quiver_queue_oldest_waiting_seconds', { queue: 'score-gpu' }),
    ).toBeGreaterThan(1);
    expect(sampleValue(scrape, 'quiver_queue_oldest_waiting_seconds', { queue: 'score-cpu' })).toBe(0);

    // A GPU-class worker starts: it scores every chunk of the job, the CPU worker none.
    gpuWorker = await startGpuWorker();
    const done = await cpuWorker.settle(gpuJob);
    expect(done.status).toBe('succeeded');
    expect(done.progress.rowsScored).toBe(ROWS);
    expect(chunksOf(cpuWorker.log, gpuJob).taken.size).toBe(0);
    expect(chunksOf(gpuWorker.log, gpuJob).committed.sort((a, b) => a - b)).toEqual(
      Array.from({ length: chunksTotal }, (_, i) => i),
    );
  }, 120_000);

  it('gives a cpu job to the CPU worker only, and shares an any job between both', async () => {
    const gpu = (gpuWorker ??= await startGpuWorker());
    const [cpuJob, anyJob] = [await submit('cpu'), await submit('any')];
    let chunksTotal = 0;
    for (const id of [cpuJob, anyJob]) {
      const done = await cpuWorker.settle(id);
      expect(done.status, id).toBe('succeeded');
      expect(done.progress.rowsScored, id).toBe(ROWS);
      chunksTotal = done.progress.chunksTotal;
    }
    expect(chunksOf(gpu.log, cpuJob).taken.size).toBe(0);
    expect(chunksOf(cpuWorker.log, cpuJob).committed).toHaveLength(chunksTotal);

    // Each chunk of the any job committed once, by one worker or the other, and each worker took some.
    const byCpu = chunksOf(cpuWorker.log, anyJob).committed;
    const byGpu = chunksOf(gpu.log, anyJob).committed;
    expect([...byCpu, ...byGpu].sort((a, b) => a - b)).toEqual(
      Array.from({ length: chunksTotal }, (_, i) => i),
    );
    expect(byCpu.length, 'chunks the CPU worker scored').toBeGreaterThan(0);
    expect(byGpu.length, 'chunks the GPU-class worker scored').toBeGreaterThan(0);
    const depths = await cpuWorker.queues.depths();
    for (const queue of ['score', 'score-cpu', 'score-gpu', 'score-any'] as const)
      expect(depths[queue].backlog, queue).toBe(0);
  }, 120_000);
});
