/**
 * The demo job (`npm run demo`, `quiver demo`) — a complete scoring job on built-in defaults: generates a dataset (1,000,000 rows × 64
 * float features, Parquet) and a model (64 → 256 → 1 MLP), starts the pipeline in this process against a
 * Redis (see demoRedis), submits the job over local files, shows its progress, and prints where the output
 * is and a few scored rows. `quiver demo` runs the same {@link runDemo}, and the device check its job.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { submitJob } from '../../jobs/submit-job.js';
import { makeFormatReaders } from '../../services/formats/make-reader.js';
import { outputWriters } from '../../services/formats/writers/make-writer.js';
import { makeRedisJobStore } from '../../services/queue/job-store.js';
import { makeQueues } from '../../services/queue/queues.js';
import { makeRedis } from '../../services/queue/redis-connection.js';
import { makeLog } from '../../services/process/log.js';
import { fileTuningCache } from '../../services/scoring/auto-batch.js';
import { makeScorerPool } from '../../services/scoring/scorer-pool.js';
import { terminalStatuses } from '../../services/cli/exit-codes.js';
import { makeProgressReporter, silentProgress } from '../../services/cli/progress.js';
import { makeFileStorage } from '../../services/storage/file-storage.js';
import { makePipelineWorker } from '../../services/worker/pipeline-worker.js';
import { cacheDir, tabularParquet } from './datasets.js';
import { demoRedis } from './demo-redis.js';
import { type ModelName, modelPath } from './models.js';
import type { DeviceRequest } from '../../services/scoring/devices.js';
import { tuneHeapForBulkData } from '../../services/process/heap-tuning.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Rows in the generated dataset. Default 1,000,000. */
  rows?: number;
  /** The generated model to score with. Default `tabular-mlp`. */
  model?: ModelName;
  /** The device the in-process worker scores on. Default the CPU. */
  device?: DeviceRequest;
  /** Where the output goes. Default `.cache/demo/output`. */
  output?: string;
  /** Where progress and the summary go. Default stdout. */
  print?: (line: string) => void;
}

/** What {@link runDemo}'s job wrote. */
export interface DemoResult {
  manifestUri: string;
  rowsScored: number;
  /** The output's Parquet parts, in manifest order. */
  parts: Array<{ uri: string; bytes: number }>;
  /** The device the scorer pool actually opened the model on (`cpu` where a GPU fell back). */
  device: string;
  seconds: number;
}

/** Generates the dataset and model, runs one job through the pipeline in this process, and prints the result. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const started = performance.now();
  const print = options.print ?? ((line: string) => console.log(line));
  // The demo scores in this process: it is a worker, with a worker's heap setting.
  tuneHeapForBulkData();
  const [input, model] = await Promise.all([
    tabularParquet(options.rows ?? 1_000_000, 64),
    modelPath(options.model ?? 'tabular-mlp'),
  ]);
  const output = options.output ?? join(cacheDir, 'demo', 'output');
  const redisInfo = await demoRedis();
  let device = 'cpu';
  print(`dataset ${input}\nmodel   ${model}\nredis   ${redisInfo.url} (${redisInfo.origin})`);

  const prefix = `{quiver-demo-${process.pid}}`;
  const redis = makeRedis(redisInfo.url);
  const storage = makeFileStorage();
  const readers = makeFormatReaders();
  const work = await mkdtemp(join(tmpdir(), 'quiver-demo-'));
  const scorers = makeScorerPool({
    storage,
    cacheDir: join(cacheDir, 'models', 'by-digest'),
    tuningCache: fileTuningCache(join(cacheDir, 'tuning.json')),
    log: print,
    ...(options.device !== undefined && { device: options.device }),
    onInference: (used) => (device = used),
  });
  const store = makeRedisJobStore(redis, prefix);
  const queues = makeQueues(redis, prefix);
  const worker = makePipelineWorker({
    connection: redis,
    prefix,
    queues,
    deps: {
      store,
      storage,
      readers,
      scorers,
      writers: outputWriters,
      // The demo prints its own summary; the pipeline's lines would bury it.
      log: makeLog({ level: 'silent', format: 'json' }),
    },
  });

  try {
    const { record } = await submitJob(
      {
        store,
        queue: queues,
      },
      {
        name: 'demo',
        input: { uri: pathToFileURL(input).href, format: 'parquet' },
        model: { uri: pathToFileURL(model).href, outputs: { score: { column: 'score' } } },
        output: { uri: pathToFileURL(output).href, passthrough: ['id'] },
        batch: { rows: 'auto', chunkRows: 250_000 },
      },
    );
    print(`job     ${record.id}`);
    let job = record;
    const progress = options.print === undefined ? makeProgressReporter(process.stdout) : silentProgress;
    while (!terminalStatuses.has(job.status)) {
      await new Promise((r) => setTimeout(r, 200));
      job = (await store.get(record.id))!;
      progress.update(job);
    }
    progress.end();
    if (job.status !== 'succeeded') throw new Error(`job ${job.status}: ${JSON.stringify(job.error)}`);
    const manifestUri = job.output.manifestUri!;
    const manifest = JSON.parse(new TextDecoder().decode(await storage.read(manifestUri))) as {
      parts: Array<{ uri: string; bytes: number }>;
      rowsScored: number;
    };
    print(
      `scored ${manifest.rowsScored} rows in ${((performance.now() - started) / 1000).toFixed(1)} s → ${manifestUri}`,
    );
    const first = manifest.parts[0]!;
    for await (const batch of readers
      .readerFor('parquet')
      .readPart(storage, { uri: first.uri, size: first.bytes, range: { kind: 'whole' } })) {
      const rows = batch
        .toArray()
        .slice(0, 3)
        .map((row: { toJSON(): unknown }) => row.toJSON());
      print(
        `first rows: ${JSON.stringify(rows, (_key, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))}`,
      );
      break;
    }
    return {
      manifestUri,
      rowsScored: manifest.rowsScored,
      parts: manifest.parts,
      device,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await worker.close();
    await queues.close();
    await scorers.close();
    await readers.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await redisInfo.stop();
    await rm(work, { recursive: true, force: true });
  }
}
