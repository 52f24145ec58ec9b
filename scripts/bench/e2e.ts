/**
 * bench:e2e — full jobs: input and output through an S3-protocol server (s3rver on loopback), Redis queues
 * and `quiver worker` processes, per model, with two references measured in the same run: raw ONNX Runtime
 * on in-memory tensors at its best fixed batch, and the same decode → score → encode path in one process on
 * a local file (no queues, no object store, no process hop; features packed in the decoder when the job
 * maps them, as the pipeline does). One JSON line per model.
 *   npm run bench:e2e [-- --models tabular-mlp,compute-heavy --workers 1]
 * With `--against <checkout>`, a second pool of workers from another checkout of Quiver (e.g. a `git
 * worktree` of the commit before a change, with its own node_modules) scores the same job on its own queues,
 * in alternating rounds (`--rounds`, default 3): the line gains `againstWorkerCpuSeconds` and
 * `workerCpuRatio` (medians), what the change costs in worker CPU for the same rows.
 * The in-process reference runs in the same alternating rounds, and `cpuOverhead` = `workerCpuSeconds` ÷
 * `inProcessCpuSeconds` (medians): what the pipeline costs beyond decode, map, infer and encode. The
 * reference gathers the run report's statistics as the job does (reports are on by default), and a pass
 * without them in the same rounds gives `reportCpuSeconds`: what the report itself costs. The tabular
 * MLP also gets a CSV line (`--formats`, default `parquet,csv`): the same rows as a CSV object.
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
import { tabularAs, tabularParquet } from '../lib/datasets.js';
import { demoRedis } from '../lib/demo-redis.js';
import { type ModelName, modelPath } from '../lib/models.js';
import { ownCpuSeconds, processCpuSeconds, threadDelta, threadStats } from '../lib/cpu-time.js';
import { bestFixedBatch } from '../lib/score-bench.js';
import { tuneHeapForBulkData } from '../../services/process/heap-tuning.js';

const round2 = (n: number) => Number(n.toFixed(2));

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'tabular-mlp,compute-heavy' },
    workers: { type: 'string', default: '1' },
    /** `s3`: input and output through s3rver on loopback; `file`: local files (the pipeline without the object store). */
    storage: { type: 'string', default: 's3' },
    /** `columns`: the job maps f0..f63 explicitly (Parquet packs them in the decoder); `default`: no mapping. */
    mapping: { type: 'string', default: 'columns' },
    against: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    /** Input formats for the tabular MLP (other models: Parquet only). */
    formats: { type: 'string', default: 'parquet,csv' },
    /**
     * A model scored as a challenger beside the tabular MLP on Parquet (`none`: no such line): its jobs
     * alternate with the single-model ones in the same rounds, on the same workers. Default the MLP
     * retrained (same shape and cost, other weights): a rollout's candidate. `tree-ensemble` costs 7.2
     * CPU-s per 1 M rows in raw ONNX Runtime alone, 2.6× the whole single-model job.
     */
    challenger: { type: 'string', default: 'tabular-mlp-v2' },
    /**
     * Also print, for each timed job of this checkout's first worker, one `e2e-threads` line: CPU seconds
     * and minor page faults per thread of the worker process (Linux), to see where a job's CPU went.
     */
    threads: { type: 'boolean', default: false },
  },
});
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rowsFor: Record<string, number> = { 'tabular-mlp': 1_000_000, 'compute-heavy': 40_000 };
const chunkRowsFor: Record<string, number> = { 'tabular-mlp': 245_760, 'compute-heavy': 16_384 };
const threads = availableParallelism();
// The in-process reference with the worker process's heap setting.
tuneHeapForBulkData();

const work = await mkdtemp(join(tmpdir(), 'quiver-bench-e2e-'));
const s3 = await startS3Server();
for (const bucket of ['bench-in', 'bench-models', 'bench-out']) await s3.createBucket(bucket);
const redisInfo = await demoRedis();
const redis = makeRedis(redisInfo.url);
const workers: ChildProcess[] = [];

try {
  const runs = (values.models.split(',') as ModelName[]).flatMap((name) =>
    (name === 'tabular-mlp' ? values.formats.split(',') : ['parquet']).map((format) => ({
      name,
      format: format as 'parquet' | 'csv',
    })),
  );
  for (const { name, format } of runs) {
    const rows = rowsFor[name] ?? 1_000_000;
    const dataset = format === 'csv' ? await tabularAs('csv', rows, 64) : await tabularParquet(rows, 64);
    const model = await modelPath(name);
    const viaS3 = values.storage === 's3';
    const inputKey = `${name}-${format}`;
    if (viaS3) {
      await s3.storage.write(`s3://bench-in/${inputKey}/data.${format}`, await readFile(dataset));
      await s3.storage.write(`s3://bench-models/${name}.onnx`, await readFile(model));
    }
    const spec = {
      input: {
        uri: viaS3 ? `s3://bench-in/${inputKey}/` : pathToFileURL(dataset).href,
        format,
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
        uri: viaS3 ? `s3://bench-out/${inputKey}/` : pathToFileURL(join(work, 'out', inputKey)).href,
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
    // One pass: decode → score → encode every chunk here; the first pass also tunes the batch size (cached).
    const quiet = makeLog({ level: 'silent', format: 'json' });
    const inProcessPass = async (report = true): Promise<{ seconds: number; cpu: number }> => {
      let inProcessRows = 0;
      const started = performance.now();
      const cpu = process.cpuUsage();
      const chunks = await planInput(
        local,
        readers,
        { uri: pathToFileURL(dataset).href, format },
        { chunkRows: spec.batch.chunkRows, chunkBytes: 1 << 30 },
      );
      for (const chunk of chunks) {
        // The same scoring as the pipeline's: features packed in the decoder when the job maps them.
        const scored = scoreChunk(
          opened,
          spec.model,
          {
            format,
            passthrough: spec.output.passthrough,
            batch: spec.batch,
            read: (projection) =>
              readers.readerFor(format).readPart(local, chunk.parts[0]!, { header: true, ...projection }),
            locate: () => undefined,
            log: quiet,
            ...(report ? { collectStats: true } : {}),
          },
          inProcessTuning,
        );
        const out = [];
        let takeStats: (() => unknown) | undefined;
        for await (const rows of scored) {
          out.push(...rows.output.batches);
          inProcessRows += rows.output.numRows;
          takeStats = rows.takeStats;
        }
        takeStats?.(); // the chunk's one segment, as the worker takes it when it commits
        await makeWriter('parquet').encode(out);
      }
      if (inProcessRows !== rows)
        throw new Error(`${name}: in-process scored ${inProcessRows} of ${rows} rows`);
      return { seconds: (performance.now() - started) / 1000, cpu: ownCpuSeconds(cpu) };
    };
    await inProcessPass();
    // The pipeline: worker processes, Redis queues, the S3-protocol server. One pool per checkout, each on
    // its own queues (prefix), idle while the other's job runs.
    const pools = [join(import.meta.dirname, '../..'), ...(values.against ? [values.against] : [])].map(
      (checkout, p) => {
        const prefix = `{bench-e2e-${process.pid}-${inputKey}-${p}}`;
        const env = {
          ...process.env,
          QUIVER_REDIS_URL: redisInfo.url,
          QUIVER_PREFIX: prefix,
          QUIVER_S3_ENDPOINT: s3.endpoint,
          QUIVER_S3_FORCE_PATH_STYLE: 'true',
          AWS_ACCESS_KEY_ID: 'S3RVER',
          AWS_SECRET_ACCESS_KEY: 'S3RVER',
          AWS_REGION: 'us-east-1',
          QUIVER_MODEL_CACHE: join(work, `worker-models-${p}`),
          QUIVER_TUNING_CACHE: join(work, `tuning-${p}.json`),
        };
        const own: ChildProcess[] = [];
        for (let i = 0; i < Number(values.workers); i++) {
          const worker = spawn(process.execPath, [join(checkout, 'services/cli/quiver.js'), 'worker'], {
            env,
            stdio: 'ignore',
          });
          own.push(worker);
          workers.push(worker);
        }
        return {
          prefix,
          workers: own,
          store: makeRedisJobStore(redis, prefix),
          queues: makeQueues(redis, prefix),
        };
      },
    );
    // With a challenger: the same job, the challenger scored beside the champion on each decoded batch.
    const challengerName =
      name === 'tabular-mlp' && format === 'parquet' && values.challenger !== 'none'
        ? (values.challenger as ModelName)
        : undefined;
    let challengerSpec: typeof spec | undefined;
    if (challengerName) {
      const path = await modelPath(challengerName);
      if (viaS3) await s3.storage.write(`s3://bench-models/${challengerName}.onnx`, await readFile(path));
      challengerSpec = {
        ...spec,
        challengers: [
          {
            name: 'challenger',
            model: {
              uri: viaS3 ? `s3://bench-models/${challengerName}.onnx` : pathToFileURL(path).href,
              ...(spec.model.inputs ? { inputs: spec.model.inputs } : {}),
            },
          },
        ],
        output: { ...spec.output, uri: `${spec.output.uri.replace(/\/$/, '')}-challenger/` },
      } as typeof spec;
    }
    const runJob = async (pool: (typeof pools)[number], job: typeof spec = spec): Promise<number> => {
      const started = performance.now();
      const { record } = await submitJob({ store: pool.store, queue: pool.queues }, job);
      for (;;) {
        const job = (await pool.store.get(record.id))!;
        if (job.status === 'succeeded') break;
        if (job.status === 'failed' || job.status === 'cancelled')
          throw new Error(`${name}: job ${job.status} ${JSON.stringify(job.error)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return (performance.now() - started) / 1000;
    };
    // Warm: workers load the model and tune the batch size once.
    for (const pool of pools) await runJob(pool);
    if (challengerSpec) await runJob(pools[0]!, challengerSpec);
    // Where a timed job's CPU goes: the pool's worker processes, and this process, which serves the S3
    // protocol (s3rver runs in it; otherwise it only polls the job every 50 ms).
    const workerCpu = async (pool: (typeof pools)[number]) => {
      const each = await Promise.all(pool.workers.map((w) => processCpuSeconds(w.pid!)));
      return each.some((c) => c === undefined) ? undefined : each.reduce((a, b) => a! + b!, 0)!;
    };
    // With --threads: the first worker's threads across one timed job, as an `e2e-threads` line.
    const byThread = async <T>(job: string, round: number, run: () => Promise<T>): Promise<T> => {
      const pid = pools[0]!.workers[0]!.pid!;
      if (!values.threads) return run();
      const before = await threadStats(pid);
      const result = await run();
      const threads = threadDelta(pid, before, await threadStats(pid));
      console.log(
        JSON.stringify({
          bench: 'e2e-threads',
          model: name,
          format,
          storage: values.storage,
          job,
          round,
          threads,
        }),
      );
      return result;
    };
    const rounds = Number(values.rounds);
    const figures = pools.map(() => ({
      seconds: [] as number[],
      worker: [] as number[],
      server: [] as number[],
    }));
    const inProcess: Array<{ seconds: number; cpu: number }> = [];
    const withoutReport: number[] = [];
    const challenged = { seconds: [] as number[], worker: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      // Settled first (the last job's sockets and buffers, which s3rver frees in this process), and the two
      // passes in turn first, so neither carries what the other leaves.
      await new Promise((resolve) => setTimeout(resolve, 500));
      if (round % 2 === 1) withoutReport.push((await inProcessPass(false)).cpu);
      inProcess.push(await inProcessPass());
      if (round % 2 === 0) withoutReport.push((await inProcessPass(false)).cpu);
      if (challengerSpec) {
        const before = await workerCpu(pools[0]!);
        challenged.seconds.push(await byThread('challenger', round, () => runJob(pools[0]!, challengerSpec)));
        const after = await workerCpu(pools[0]!);
        if (before !== undefined && after !== undefined) challenged.worker.push(after - before);
      }
      for (const [p, pool] of pools.entries()) {
        const before = await workerCpu(pool);
        const serverCpu = process.cpuUsage();
        figures[p]!.seconds.push(
          await (p === 0 ? byThread('single', round, () => runJob(pool)) : runJob(pool)),
        );
        figures[p]!.server.push(ownCpuSeconds(serverCpu));
        const after = await workerCpu(pool);
        if (before !== undefined && after !== undefined) figures[p]!.worker.push(after - before);
      }
    }
    for (const pool of pools) {
      await pool.queues.close();
      for (const worker of pool.workers) worker.kill('SIGTERM');
      const keys = await redis.keys(`${pool.prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    }
    workers.splice(0);
    await opened.host.close();
    await readers.close();
    const inProcessRowsPerSec = rows / median(inProcess.map((p) => p.seconds));
    const inProcessCpuSeconds = median(inProcess.map((p) => p.cpu));
    const reportCpuSeconds = median(inProcess.map((p, i) => p.cpu - withoutReport[i]!));
    const seconds = median(figures[0]!.seconds);
    const serverCpuSeconds = median(figures[0]!.server);
    const workerCpuSeconds = figures[0]!.worker.length > 0 ? median(figures[0]!.worker) : undefined;
    const againstWorkerCpuSeconds = figures[1]?.worker.length ? median(figures[1].worker) : undefined;

    const rowsPerSec = rows / seconds;
    console.log(
      JSON.stringify({
        bench: 'e2e',
        model: name,
        format,
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
        reportCpuSeconds: round2(reportCpuSeconds),
        ...(workerCpuSeconds !== undefined && {
          workerCpuSeconds: round2(workerCpuSeconds),
          cpuOverhead: Number((workerCpuSeconds / inProcessCpuSeconds).toFixed(3)),
          workerCpuSecondsByRound: figures[0]!.worker.map(round2),
          inProcessCpuSecondsByRound: inProcess.map((p) => round2(p.cpu)),
          noReportCpuSecondsByRound: withoutReport.map(round2),
        }),
        serverCpuSeconds: round2(serverCpuSeconds),
        ...(againstWorkerCpuSeconds !== undefined &&
          workerCpuSeconds !== undefined && {
            against: values.against,
            rounds,
            againstWorkerCpuSeconds: round2(againstWorkerCpuSeconds),
            workerCpuRatio: Number((workerCpuSeconds / againstWorkerCpuSeconds).toFixed(3)),
            againstByRound: figures[1]!.worker.map(round2),
          }),
        cores: threads,
      }),
    );
    if (challengerName) {
      const challengedRowsPerSec = rows / median(challenged.seconds);
      console.log(
        JSON.stringify({
          bench: 'e2e',
          model: name,
          challenger: challengerName,
          format,
          storage: values.storage,
          rows,
          rowsPerSec: Math.round(challengedRowsPerSec),
          singleModelRowsPerSec: Math.round(rowsPerSec),
          vsSingleModel: Number((challengedRowsPerSec / rowsPerSec).toFixed(3)),
          ...(challenged.worker.length > 0 &&
            workerCpuSeconds !== undefined && {
              workerCpuSeconds: round2(median(challenged.worker)),
              singleModelWorkerCpuSeconds: round2(workerCpuSeconds),
              workerCpuSecondsByRound: challenged.worker.map(round2),
            }),
          secondsByRound: challenged.seconds.map(round2),
          singleModelSecondsByRound: figures[0]!.seconds.map(round2),
          cores: threads,
        }),
      );
    }
  }
} finally {
  for (const worker of workers) worker.kill('SIGKILL');
  redis.disconnect();
  await redisInfo.stop();
  await s3.close();
  await rm(work, { recursive: true, force: true });
}
