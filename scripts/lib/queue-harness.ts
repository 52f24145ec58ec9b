import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Redis } from 'ioredis';
import { processPlan } from '../../jobs/plan/process-plan.js';
import { type Manifest, manifestSchema } from '../../schemas/manifest.js';
import { makeLog } from '../../services/process/log.js';
import { makeRedisJobStore } from '../../services/queue/job-store.js';
import { makeQueues } from '../../services/queue/queues.js';
import { makeRedis } from '../../services/queue/redis-connection.js';
import { makeFileStorage } from '../../services/storage/file-storage.js';
import { fakeInput, makeFakeReaders } from '../../tests/helpers/memory-ports/fake-readers.js';
import { fakeJobSpec } from '../../tests/helpers/memory-ports/fake-job-spec.js';
import { makeFakeScorer } from '../../tests/helpers/memory-ports/fake-scorer.js';
import { makeRecordingWriters } from '../../tests/helpers/memory-ports/recording-writers.js';
import { jobSpecSchema } from '../../schemas/job-spec.js';
import { freePort, spawnRedisServer, waitForRedis } from './demo-redis.js';

export interface QueueCeilingOptions {
  /** Consumer processes. */
  processes: number;
  /** Chunks in flight at once per process (`scoreConcurrency`). */
  consumersPerProcess: number;
  /** Chunks of the job (one row each). */
  chunks: number;
}

export interface QueueCeiling {
  chunks: number;
  processes: number;
  consumers: number;
  /** From the first chunk commit to the last. */
  commitSeconds: number;
  chunksPerSec: number;
  /** Redis' own CPU (user + system, its INFO) per chunk, plan to finalize, in µs. */
  redisCpuMicrosPerChunk: number;
  /** What one Redis shard could carry at that cost, all its CPU on chunks: 1 / redisCpuMicrosPerChunk. */
  ceilingChunksPerSecPerShard: number;
  /** Commands Redis processed per chunk (BullMQ's fetch, lock renewals, moves; the commit scripts). */
  commandsPerChunk: number;
  /** The eight most called commands, calls per chunk. */
  commandsPerChunkByName: Record<string, number>;
  /** Redis memory per queued chunk after planning (the descriptors, the job's bookkeeping). */
  redisBytesPerPendingChunk: number;
  /** `ceilingChunksPerSecPerShard` × the default `chunkRows` (500,000). */
  ceilingRowsPerSecPerShard: number;
  /** What the check found: every row once in the manifest's parts, no chunk counted twice. */
  exactlyOnce: { rowsInParts: number; distinctRows: number; chunksDone: number; scoredRows: number };
}

const consumerEntry = fileURLToPath(new URL('./queue-consumer.ts', import.meta.url));

/** The numeric fields of `INFO <section>`. */
async function info(redis: Redis, section: string): Promise<Record<string, number>> {
  const text = await redis.info(section);
  return Object.fromEntries(
    text
      .split(/\r?\n/)
      .map((line) => line.split(':'))
      .filter((kv): kv is [string, string] => kv.length === 2 && kv[1] !== '' && !Number.isNaN(Number(kv[1])))
      .map(([k, v]) => [k, Number(v)]),
  );
}

const redisCpu = async (redis: Redis) => {
  const cpu = await info(redis, 'cpu');
  return (cpu.used_cpu_user ?? 0) + (cpu.used_cpu_sys ?? 0);
};

/**
 * One job of `chunks` one-row chunks through the real queues, job store and commit protocol, consumed by
 * `processes` × `consumersPerProcess` simulated workers, on a private redis-server (so its CPU and
 * commands are the job's alone). Checks that every row is in exactly one part of the manifest.
 */
export async function runQueueCeiling(options: QueueCeilingOptions): Promise<QueueCeiling> {
  const dir = await mkdtemp(join(tmpdir(), 'quiver-queue-ceiling-'));
  const port = await freePort();
  const server = spawnRedisServer(port, dir);
  const url = `redis://127.0.0.1:${port}`;
  const consumers: ChildProcess[] = [];
  let redis: Redis | undefined;
  try {
    await waitForRedis(url);
    redis = makeRedis(url);
    const prefix = '{bench-queue}';
    const inputDir = join(dir, 'in');
    await mkdir(inputDir, { recursive: true });
    await writeFile(join(inputDir, 'data.csv'), fakeInput(options.chunks));
    const spec = jobSpecSchema.parse({
      ...fakeJobSpec(),
      input: { uri: `${pathToFileURL(inputDir).href}/`, format: 'csv' },
      output: { uri: pathToFileURL(join(dir, 'out')).href, format: 'jsonl', passthrough: ['id'] },
      batch: { chunkRows: 1, rows: 1 },
    });
    const store = makeRedisJobStore(redis, prefix);
    const queues = makeQueues(redis, prefix);
    const storage = makeFileStorage();

    // Planned here, before any consumer runs: what the queued chunks hold in Redis.
    const memoryBefore = (await info(redis, 'memory')).used_memory ?? 0;
    const { record } = await store.create(spec);
    await processPlan(
      {
        store,
        storage,
        readers: makeFakeReaders({ splitRows: 1 }),
        writers: makeRecordingWriters(),
        scorers: makeFakeScorer(),
        queue: queues,
        log: makeLog({ level: 'warn', format: 'json' }),
        maxChunksPerJob: options.chunks,
      },
      record.id,
    );
    const memoryAfter = (await info(redis, 'memory')).used_memory ?? 0;
    await redis.config('RESETSTAT');
    const cpuBefore = await redisCpu(redis);

    const outputs: string[][] = [];
    const ready: Promise<void>[] = [];
    for (let p = 0; p < options.processes; p++) {
      const child = spawn(process.execPath, ['--import', 'tsx', consumerEntry], {
        env: {
          ...process.env,
          QUEUE_REDIS_URL: url,
          QUEUE_PREFIX: prefix,
          QUEUE_CONCURRENCY: String(options.consumersPerProcess),
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      consumers.push(child);
      const lines: string[] = [];
      outputs.push(lines);
      ready.push(
        new Promise((resolve, reject) => {
          createInterface({ input: child.stdout }).on('line', (line) => {
            lines.push(line);
            if (line.includes('"ready"')) resolve();
          });
          child.once('exit', (code) =>
            reject(new Error(`consumer ${p} exited (${code}) before it was ready`)),
          );
        }),
      );
    }
    await Promise.all(ready);
    const deadline = Date.now() + 10 * 60_000;
    for (;;) {
      const job = await store.get(record.id);
      if (job?.status === 'succeeded') break;
      if (!job || ['failed', 'cancelled'].includes(job.status) || Date.now() > deadline)
        throw new Error(`queue ceiling job ended ${job?.status}: ${JSON.stringify(job?.error)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const cpuSeconds = (await redisCpu(redis)) - cpuBefore;
    const commands = (await info(redis, 'stats')).total_commands_processed ?? 0;
    // Which commands, by calls: `cmdstat_evalsha:calls=…,usec=…`.
    const byCommand = Object.fromEntries(
      [...(await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)]
        .map((m) => [m[1]!, Number((Number(m[2]) / options.chunks).toFixed(2))] as const)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 8),
    );
    const report = await store.chunkReport(record.id, { offset: 0, limit: 1 });
    const done = await store.get(record.id);

    // The consumers drain and say how many rows their scorers scored (a retried chunk scores again).
    const exited = consumers.map((child) => new Promise((resolve) => child.once('exit', resolve)));
    for (const child of consumers) child.kill('SIGTERM');
    await Promise.all(exited);
    const scoredRows = outputs
      .flatMap((lines) => lines.map((line) => JSON.parse(line) as { scoredRows?: number }))
      .reduce((n, line) => n + (line.scoredRows ?? 0), 0);

    // Every row of the input in exactly one part of the manifest.
    const manifest: Manifest = manifestSchema.parse(
      JSON.parse(await readFile(fileURLToPath(done!.output.manifestUri!), 'utf8')),
    );
    const rows = new Set<string>();
    let rowsInParts = 0;
    for (const part of manifest.parts) {
      const recorded = JSON.parse(await readFile(fileURLToPath(part.uri), 'utf8')) as {
        rows: Array<{ uri: string; row: number }>;
      };
      for (const row of recorded.rows) rows.add(`${row.uri}#${row.row}`);
      rowsInParts += recorded.rows.length;
    }
    await queues.close();

    const times = report?.timeline.slice(1).map((point) => Date.parse(point.at)) ?? [];
    const commitSeconds = times.length > 1 ? (Math.max(...times) - Math.min(...times)) / 1000 : 0;
    const redisCpuMicrosPerChunk = (cpuSeconds * 1e6) / options.chunks;
    const ceilingChunksPerSecPerShard = redisCpuMicrosPerChunk > 0 ? 1e6 / redisCpuMicrosPerChunk : 0;
    return {
      chunks: options.chunks,
      processes: options.processes,
      consumers: options.processes * options.consumersPerProcess,
      commitSeconds: Number(commitSeconds.toFixed(2)),
      chunksPerSec: commitSeconds > 0 ? Math.round((options.chunks - 1) / commitSeconds) : 0,
      redisCpuMicrosPerChunk: Math.round(redisCpuMicrosPerChunk),
      ceilingChunksPerSecPerShard: Math.round(ceilingChunksPerSecPerShard),
      commandsPerChunk: Number((commands / options.chunks).toFixed(1)),
      commandsPerChunkByName: byCommand,
      redisBytesPerPendingChunk: Math.round((memoryAfter - memoryBefore) / options.chunks),
      ceilingRowsPerSecPerShard: Math.round(ceilingChunksPerSecPerShard * 500_000),
      exactlyOnce: {
        rowsInParts,
        distinctRows: rows.size,
        chunksDone: done!.progress.chunksDone,
        scoredRows,
      },
    };
  } finally {
    for (const child of consumers)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    redis?.disconnect();
    server.kill('SIGTERM');
    await new Promise((resolve) =>
      server.exitCode !== null ? resolve(undefined) : server.once('exit', resolve),
    );
    await rm(dir, { recursive: true, force: true });
  }
}
