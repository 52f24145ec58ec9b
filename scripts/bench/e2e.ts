/**
 * bench:e2e — full jobs: input and output through an S3-protocol server (s3rver on loopback), Redis queues
 * and `quiver worker` processes, per model, with two references measured in the same run: raw ONNX Runtime
 * on in-memory tensors at its best fixed batch, and the same decode → score → encode path in one process on
 * a local file (no queues, no object store, no process hop; features packed in the decoder when the job
 * maps them, as the pipeline does). One JSON line per model.
 *   npm run bench:e2e [-- --models tabular-mlp,compute-heavy --workers 1]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { planInput } from '../../jobs/plan/plan-input.js';
import { scoreChunk } from '../../services/scoring/score-chunk.js';
import { submitJob } from '../../jobs/submit-job.js';
import { makeFormatReaders } from '../../services/formats/make-reader.js';
import { makeWriter } from '../../services/formats/writers/make-writer.js';
import { makeRedisJobStore } from '../../services/queue/job-store.js';
import { makeQueues } from '../../services/queue/queues.js';
import { makeRedis } from '../../services/queue/redis-connection.js';
import { fileTuningCache } from '../../services/scoring/auto-batch.js';
import { openModel } from '../../services/scoring/open-scorer.js';
import { makeLog } from '../../services/process/log.js';
import { makeFileStorage } from '../../services/storage/file-storage.js';
import { startS3Server } from '../../tests/helpers/s3-server.js';
import { tabularParquet } from '../lib/datasets.js';
import { demoRedis } from '../lib/demo-redis.js';
import { type ModelName, modelPath } from '../lib/models.js';
import { ownCpuSeconds, processCpuSeconds } from '../lib/cpu-time.js';
import { bestFixedBatch } from '../lib/score-bench.js';

const round2 = (n: number) => Number(n.toFixed(2));

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'tabular-mlp,compute-heavy' },
    workers: { type: 'string', default: '1' },
    /** `s3`: input and output through s3rver on loopback; `file`: local files (the pipeline without the object store). */
    storage: { type: 'string', default: 's3' },
    /** `columns`: the job maps f0..f63 explicitly (Parquet packs them in the decoder); `default`: no mapping. */
    mapping: { type: 'string', default: 'columns' },
  },
});
const rowsFor: Record<string, number> = { 'tabular-mlp': 1_000_000, 'compute-heavy': 40_000 };
const chunkRowsFor: Record<string, number> = { 'tabular-mlp': 245_760, 'compute-heavy': 16_384 };
const threads = availableParallelism();

const work = await mkdtemp(join(tmpdir(), 'quiver-bench-e2e-'));
const s3 = await startS3Server();
for (const bucket of ['bench-in', 'bench-models', 'bench-out']) await s3.createBucket(bucket);
const redisInfo = await demoRedis();
const redis = makeRedis(redisInfo.url);
const workers: ChildProcess[] = [];

try {
  for (const name of values.models.split(',') as ModelName[]) {
    const rows = rowsFor[name] ?? 1_000_000;
    const dataset = await tabularParquet(rows, 64);
    const model = await modelPath(name);
    const viaS3 = values.storage === 's3';
    if (viaS3) {
      await s3.storage.write(`s3://bench-in/${name}/data.parquet`, await readFile(dataset));
      await s3.storage.write(`s3://bench-models/${name}.onnx`, await readFile(model));
    }
    const spec = {
      input: {
        uri: viaS3 ? `s3://bench-in/${name}/` : pathToFileURL(dataset).href,
        format: 'parquet' as const,
      },
      model: {
        uri: viaS3 ? `s3://bench-models/${name}.onnx` : pathToFileURL(model).href,
        ...(values.mapping === 'columns'
          ? {
              inputs: {
                features: { columns: Array.from({ length: 64 }, (_, j) => `f${j}`), nulls: 'fail' as const },
              },
            }
          : {}),
      },
      output: {
        uri: viaS3 ? `s3://bench-out/${name}/` : pathToFileURL(join(work, 'out', name)).href,
        passthrough: ['id'],
      },
      batch: { rows: 'auto' as const, chunkRows: chunkRowsFor[name] ?? 245_760 },
    };

    // Reference 1: raw ONNX Runtime, all cores, in-memory tensors.
    const session = await ort.InferenceSession.create(model, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    // Each size the median of three alternating passes: one 0.5 s pass per size read ±40% on this VM.
    const raw = await bestFixedBatch(session, 'features', 64, [256, 1_024, 4_096, 16_384], 0.5, 3);
    await session.release();

    // Reference 2: decode → score → encode in this process, from a local file.
    const local = makeFileStorage();
    const readers = makeFormatReaders();
    const inProcessTuning = fileTuningCache(join(work, `in-process-tuning-${name}.json`));
    const opened = await openModel(
      local,
      { uri: pathToFileURL(model).href },
      { cacheDir: join(work, 'models') },
    );
    // Run twice: the first pass tunes the batch size (cached), the second is timed.
    let inProcessRows = 0;
    let inProcessStart = 0;
    let inProcessCpu = process.cpuUsage();
    const quiet = makeLog({ level: 'silent', format: 'json' });
    for (let pass = 0; pass < 2; pass++) {
      inProcessRows = 0;
      inProcessStart = performance.now();
      inProcessCpu = process.cpuUsage();
      const chunks = await planInput(
        local,
        readers,
        { uri: pathToFileURL(dataset).href, format: 'parquet' },
        { chunkRows: spec.batch.chunkRows, chunkBytes: 1 << 30 },
      );
      for (const chunk of chunks) {
        // The same scoring as the pipeline's: features packed in the decoder when the job maps them.
        const scored = scoreChunk(
          opened,
          spec.model,
          {
            format: 'parquet',
            passthrough: spec.output.passthrough,
            batch: spec.batch,
            read: (projection) =>
              readers.readerFor('parquet').readPart(local, chunk.parts[0]!, projection ?? {}),
            locate: () => undefined,
            log: quiet,
          },
          inProcessTuning,
        );
        const out = [];
        for await (const rows of scored) {
          out.push(...rows.output.batches);
          inProcessRows += rows.output.numRows;
        }
        await makeWriter('parquet').encode(out);
      }
    }
    const inProcessRowsPerSec = inProcessRows / ((performance.now() - inProcessStart) / 1000);
    const inProcessCpuSeconds = ownCpuSeconds(inProcessCpu);
    await opened.host.close();
    await readers.close();

    // The pipeline: worker processes, Redis queues, the S3-protocol server.
    const prefix = `{bench-e2e-${process.pid}-${name}}`;
    const env = {
      ...process.env,
      QUIVER_REDIS_URL: redisInfo.url,
      QUIVER_PREFIX: prefix,
      QUIVER_S3_ENDPOINT: s3.endpoint,
      QUIVER_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'us-east-1',
      QUIVER_MODEL_CACHE: join(work, 'worker-models'),
      QUIVER_TUNING_CACHE: join(work, 'tuning.json'),
    };
    for (let i = 0; i < Number(values.workers); i++) {
      workers.push(
        spawn(process.execPath, [join(import.meta.dirname, '../../services/cli/quiver.js'), 'worker'], {
          env,
          stdio: 'ignore',
        }),
      );
    }
    const store = makeRedisJobStore(redis, prefix);
    const queues = makeQueues(redis, prefix);
    const runJob = async (): Promise<number> => {
      const started = performance.now();
      const { record } = await submitJob({ store, queue: queues }, spec);
      for (;;) {
        const job = (await store.get(record.id))!;
        if (job.status === 'succeeded') break;
        if (job.status === 'failed' || job.status === 'cancelled')
          throw new Error(`${name}: job ${job.status} ${JSON.stringify(job.error)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return (performance.now() - started) / 1000;
    };
    await runJob(); // warm: workers load the model and tune the batch size once
    // Where the timed job's CPU goes: the worker processes, and this process, which serves the S3
    // protocol (s3rver runs in it; otherwise it only polls the job every 50 ms).
    const workerCpu = async () => {
      const each = await Promise.all(workers.map((w) => processCpuSeconds(w.pid!)));
      return each.some((s) => s === undefined) ? undefined : each.reduce((a, b) => a! + b!, 0)!;
    };
    const workerCpuBefore = await workerCpu();
    const serverCpu = process.cpuUsage();
    const seconds = await runJob();
    const serverCpuSeconds = ownCpuSeconds(serverCpu);
    const workerCpuAfter = await workerCpu();
    const workerCpuSeconds =
      workerCpuBefore === undefined || workerCpuAfter === undefined
        ? undefined
        : workerCpuAfter - workerCpuBefore;
    await queues.close();
    for (const worker of workers.splice(0)) worker.kill('SIGTERM');
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);

    const rowsPerSec = rows / seconds;
    console.log(
      JSON.stringify({
        bench: 'e2e',
        model: name,
        storage: values.storage,
        mapping: values.mapping,
        rows,
        workers: Number(values.workers),
        rowsPerSec: Math.round(rowsPerSec),
        rawOrtRowsPerSec: Math.round(raw.rowsPerSec),
        inProcessRowsPerSec: Math.round(inProcessRowsPerSec),
        vsRaw: Number((rowsPerSec / raw.rowsPerSec).toFixed(3)),
        vsInProcess: Number((rowsPerSec / inProcessRowsPerSec).toFixed(3)),
        // CPU seconds for the same rows: the in-process path, the pipeline's workers, and the S3 server
        // (plus this process's polling), which on a small machine shares the workers' cores.
        inProcessCpuSeconds: round2(inProcessCpuSeconds),
        ...(workerCpuSeconds !== undefined && { workerCpuSeconds: round2(workerCpuSeconds) }),
        serverCpuSeconds: round2(serverCpuSeconds),
        cores: threads,
      }),
    );
  }
} finally {
  for (const worker of workers) worker.kill('SIGKILL');
  redis.disconnect();
  await redisInfo.stop();
  await s3.close();
  await rm(work, { recursive: true, force: true });
}
