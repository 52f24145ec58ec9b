import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRecord } from '../../schemas/job-record.js';
import type { JobSpecInput } from '../../schemas/job-spec.js';
import { runReportSchema } from '../../schemas/run-report.js';
import { submitJob } from '../../jobs/submit-job.js';
import { makeFormatReaders } from '../../services/formats/make-reader.js';
import { makeRedisJobStore } from '../../services/queue/job-store.js';
import type { JobStore } from '../../jobs/ports/job-store.js';
import { type PipelineQueues, makeQueues } from '../../services/queue/queues.js';
import { makeRedis } from '../../services/queue/redis-connection.js';
import type { DeviceRequest } from '../../services/scoring/devices.js';
import { superviseDevices } from '../../services/worker/device-supervisor.js';
import { modelPath } from '../../scripts/lib/models.js';
import { duckdbBinCounts } from '../helpers/duckdb-histogram.js';
import { featureColumns, writeDataset } from '../helpers/pipeline.js';
import { makeRecordingLog } from '../helpers/recording-log.js';
import { startS3Server, testS3ProcessEnv, type TestS3Server } from '../helpers/s3-server.js';
import {
  type WorkerFleet,
  commitsByChunk,
  makeWorkerFleet,
  supervisedWorkerOptions,
} from '../helpers/worker-processes.js';
import { type FakeSpotMetadata, startFakeSpotMetadata } from '../helpers/worker-spot-metadata.js';

const ROWS = 200_000;
const CHUNK_ROWS = 8_192;
const CHUNKS = Math.ceil(ROWS / CHUNK_ROWS);
const LOCK_SECONDS = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('quiver worker processes (real processes, Redis, S3-protocol server, ONNX Runtime)', () => {
  let s3: TestS3Server;
  let redis: Redis;
  let dir: string;
  let spot: FakeSpotMetadata | undefined;
  const fleets: WorkerFleet[] = [];
  const prefixes: string[] = [];
  const readers = makeFormatReaders();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-worker-e2e-'));
    s3 = await startS3Server();
    for (const bucket of ['events', 'models', 'scores']) await s3.createBucket(bucket);
    await s3.storage.write('s3://models/mlp.onnx', await readFile(await modelPath('tabular-mlp')));
    // Seconds per chunk: for tests that must signal a worker while its chunk is still being scored.
    await s3.storage.write('s3://models/heavy.onnx', await readFile(await modelPath('compute-heavy')));
    // One row group per chunk: 8,192-row chunks, the last one short.
    await writeDataset(s3.storage, 's3://events/big/', [['data.parquet', 0, ROWS]], {
      rowGroupRows: CHUNK_ROWS,
    });
    redis = makeRedis('redis://127.0.0.1:6379');
  }, 60_000);

  afterAll(async () => {
    await Promise.all(fleets.map((f) => f.killAll()));
    await spot?.close();
    await readers.close();
    if (redis) {
      for (const prefix of prefixes) {
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length > 0) await redis.del(...keys);
      }
      redis.disconnect();
    }
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A deployment of its own: a random hash-tagged prefix, its store and queues, and a worker fleet. */
  function deployment() {
    const prefix = `{test-worker-${randomUUID().slice(0, 8)}}`;
    prefixes.push(prefix);
    const store: JobStore = makeRedisJobStore(redis, prefix);
    const queues: PipelineQueues = makeQueues(redis, prefix);
    const env = {
      QUIVER_REDIS_URL: 'redis://127.0.0.1:6379',
      QUIVER_PREFIX: prefix,
      ...testS3ProcessEnv(s3.endpoint),
      QUIVER_MODEL_CACHE: join(dir, 'models'),
      QUIVER_TUNING_CACHE: join(dir, 'tuning.json'),
      QUIVER_LOCK_SECONDS: String(LOCK_SECONDS),
    };
    const fleet = makeWorkerFleet(env);
    fleets.push(fleet);
    const spec = (output: string, chunkRows = CHUNK_ROWS, model = 'mlp'): JobSpecInput => ({
      name: 'worker-e2e',
      input: { uri: 's3://events/big/', format: 'parquet' },
      model: {
        uri: `s3://models/${model}.onnx`,
        inputs: { features: { columns: featureColumns } },
        outputs: { score: { column: 'score' } },
      },
      output: { uri: `s3://scores/${output}/`, format: 'parquet', passthrough: ['id'] },
      batch: { rows: 4_096, chunkRows },
    });
    return {
      prefix,
      env,
      store,
      queues,
      fleet,
      async submit(output: string, chunkRows?: number, model?: string): Promise<string> {
        const { record } = await submitJob({ store, queue: queues }, spec(output, chunkRows, model));
        return record.id;
      },
      async settle(id: string, timeoutMs: number): Promise<JobRecord> {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const record = await store.get(id);
          if (record && ['succeeded', 'failed', 'cancelled'].includes(record.status)) return record;
          if (Date.now() > deadline) throw new Error(`job ${id} still ${record?.status}`);
          await sleep(100);
        }
      },
    };
  }

  /** Every output row of a finished job, from its manifest's parts, as ids and scores sorted by id. */
  async function outputRows(record: JobRecord): Promise<{ ids: BigInt64Array; scores: Float32Array }> {
    const manifest = JSON.parse(
      new TextDecoder().decode(await s3.storage.read(record.output.manifestUri!)),
    ) as { parts: Array<{ uri: string; bytes: number }> };
    const rows: Array<[bigint, number]> = [];
    for (const part of manifest.parts) {
      for await (const batch of readers
        .readerFor('parquet')
        .readPart(s3.storage, { uri: part.uri, size: part.bytes, range: { kind: 'whole' } })) {
        const id = batch.getChild('id')!;
        const score = batch.getChild('score')!;
        for (let r = 0; r < batch.numRows; r++) rows.push([id.get(r) as bigint, score.get(r) as number]);
      }
    }
    rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return {
      ids: BigInt64Array.from(rows, (r) => r[0]),
      scores: Float32Array.from(rows, (r) => r[1]),
    };
  }

  /** `record`'s `_report.json` equals `reference`'s and DuckDB's figures over the input, counts exactly. */
  async function expectReportOfInput(record: JobRecord, reference: JobRecord): Promise<void> {
    const readReport = async (r: JobRecord) =>
      runReportSchema.parse(JSON.parse(new TextDecoder().decode(await s3.storage.read(r.output.reportUri!))));
    const [report, expected] = await Promise.all([readReport(record), readReport(reference)]);
    expect(report.rows).toEqual({ input: ROWS, scored: ROWS, rejected: 0 });
    const local = join(dir, 'input.parquet');
    await writeFile(local, await s3.storage.read('s3://events/big/data.parquet'));
    const duck = await DuckDBInstance.create(':memory:');
    const db = await duck.connect();
    try {
      const near = (actual: number | null, wanted: number) =>
        expect(Math.abs(actual! - wanted)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(wanted)));
      for (const column of ['f0', 'f17', 'f63']) {
        const figures = report.features[column]!;
        const clean = expected.features[column]!;
        expect(figures.histogram).toEqual(clean.histogram);
        expect([figures.count, figures.nulls, figures.min, figures.max]).toEqual([
          clean.count,
          clean.nulls,
          clean.min,
          clean.max,
        ]);
        const [row] = (
          await db.runAndReadAll(
            `SELECT count(${column}), min(${column}), max(${column}), avg(${column}), stddev_samp(${column}) FROM '${local}'`,
          )
        ).getRows();
        const [count, min, max, mean, std] = row!.map(Number);
        expect([figures.count, figures.min, figures.max]).toEqual([count, min, max]);
        near(figures.mean, mean!);
        near(figures.std, std!);
        const { edges, counts } = figures.histogram;
        expect(counts).toEqual(await duckdbBinCounts(db, column, edges, `'${local}'`));
      }
      expect(report.scores.score!.count).toBe(ROWS);
      expect(report.scores.score!.histogram).toEqual(expected.scores.score!.histogram);
    } finally {
      db.closeSync();
      duck.closeSync();
    }
  }

  it('survives SIGKILLs at random points: the job succeeds with output identical to a clean run, no row lost or doubled', async () => {
    const d = deployment();
    const workers = [1, 2, 3].map((n) => d.fleet.start(`worker-${n}`));
    await Promise.all(workers.map((w) => w.waitFor((e) => e.msg === 'worker started')));

    const cleanId = await d.submit('clean');
    const clean = await d.settle(cleanId, 60_000);
    expect(clean.status, JSON.stringify(clean.error)).toBe('succeeded');

    const killedId = await d.submit('killed');
    let kills = 0;
    let midJob = 0;
    for (let round = 0; round < 3; round++) {
      await sleep(150 + Math.random() * 450);
      const live = d.fleet.live();
      const victim = live[Math.floor(Math.random() * live.length)]!;
      const record = await d.store.get(killedId);
      if (record && record.progress.chunksDone < CHUNKS) midJob += 1;
      victim.child.kill('SIGKILL');
      await victim.exited;
      kills += 1;
      d.fleet.start(`replacement-${round}`);
    }
    const killed = await d.settle(killedId, 120_000);
    expect(killed.status, JSON.stringify(killed.error)).toBe('succeeded');
    expect(kills).toBe(3);
    expect(midJob).toBeGreaterThan(0);
    expect(killed.progress).toMatchObject({ chunksTotal: CHUNKS, chunksDone: CHUNKS, rowsScored: ROWS });

    const [expected, actual] = await Promise.all([outputRows(clean), outputRows(killed)]);
    expect(actual.ids.length).toBe(ROWS);
    expect(actual.ids.every((id, i) => id === BigInt(i))).toBe(true);
    expect(Buffer.from(actual.scores.buffer).equals(Buffer.from(expected.scores.buffer))).toBe(true);

    // The run report counts every input row once, however many attempts scored it: its figures equal the
    // clean run's and DuckDB's over the input.
    await expectReportOfInput(killed, clean);

    // Each chunk counted once, however many times a kill made it run again: Redis accepted one attempt of
    // each, and no two processes logged a commit of one chunk. (A worker killed between Redis' acceptance
    // and its log line commits without saying so, so the logs may miss a chunk but never double one.)
    const accepted = await d.store.acceptedCommits(killedId);
    expect([...accepted.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: CHUNKS }, (_, i) => i));
    const commits = commitsByChunk(d.fleet.all, killedId);
    expect([...commits.values()].every((n) => n === 1)).toBe(true);
    expect(commits.size).toBeGreaterThanOrEqual(CHUNKS - kills);
  }, 180_000);

  it('SIGTERM mid-chunk: the worker finishes the chunk in hand, exits 0 within the grace, and nothing it committed is scored again', async () => {
    const d = deployment();
    const graceMs = 20_000;
    const first = d.fleet.start('drained', ['--grace-seconds', String(graceMs / 1000)]);
    // Four row groups per chunk: long enough chunks to be caught in the middle of one.
    const jobId = await d.submit('sigterm', 4 * CHUNK_ROWS);
    await first.waitFor((e) => e.msg === 'chunk committed' && e.jobId === jobId);
    let active = 0;
    for (let i = 0; i < 100 && active === 0; i++) {
      await sleep(20);
      active = await d.queues.score.getActiveCount();
    }
    expect(active).toBeGreaterThan(0);
    const sentAt = performance.now();
    first.child.kill('SIGTERM');
    const exit = await first.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - sentAt).toBeLessThan(graceMs);

    const messages = first.events.map((e) => e.msg);
    const drainAt = messages.indexOf('draining: no new chunks; finishing the ones in hand');
    expect(drainAt).toBeGreaterThan(-1);
    expect(first.events[drainAt]!.reason).toBe('SIGTERM');
    // The chunks in hand were committed during the drain, and nothing else happened after it.
    const afterDrain = first.events.slice(drainAt + 1).map((e) => e.msg);
    expect(afterDrain.at(-1)).toBe('stopped');
    expect(afterDrain.length).toBeGreaterThan(1);
    // (A chunk's last segment is committed just before the chunk itself.)
    expect(afterDrain.slice(0, -1).every((m) => m === 'chunk committed' || m === 'segment committed')).toBe(
      true,
    );
    expect(afterDrain).toContain('chunk committed');

    const second = d.fleet.start('finisher');
    const done = await d.settle(jobId, 60_000);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.progress.rowsScored).toBe(ROWS);
    const commits = commitsByChunk([first, second], jobId);
    expect(commits.size).toBe(done.progress.chunksTotal);
    expect([...commits.values()].every((n) => n === 1)).toBe(true);
    const byFirst = [...commitsByChunk([first], jobId).keys()];
    expect(byFirst.length).toBeGreaterThanOrEqual(2);
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  }, 90_000);

  it('a spot interruption notice drains the worker and it exits 0 before any signal', async () => {
    const d = deployment();
    spot = await startFakeSpotMetadata();
    const worker = d.fleet.start('spot', ['--spot-notice-url', spot.url], {
      QUIVER_SPOT_POLL_SECONDS: '0.1',
    });
    await worker.waitFor((e) => e.msg === 'worker started');
    const metadata = spot;
    for (let i = 0; i < 100 && metadata.requests.length < 2; i++) await sleep(20);
    expect(metadata.requests.length).toBeGreaterThanOrEqual(2);
    expect(worker.child.exitCode).toBeNull();

    metadata.announce({ action: 'terminate', time: '2026-11-27T08:22:00Z' });
    const exit = await worker.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(new Set(metadata.requests)).toEqual(new Set(['/latest/meta-data/spot/instance-action']));
    const messages = worker.events.map((e) => e.msg);
    expect(messages).toContain('spot interruption notice');
    expect(worker.events.find((e) => e.msg.startsWith('draining'))?.reason).toBe('spot interruption notice');
    expect(messages.at(-1)).toBe('stopped');
  }, 30_000);

  it('when the grace runs out the worker exits 1; a second signal exits at once with 128 + its number', async () => {
    const d = deployment();
    const jobId = await d.submit('grace', 4 * CHUNK_ROWS);
    const short = d.fleet.start('short-grace', ['--grace-seconds', '0.01']);
    await short.waitFor((e) => e.msg === 'chunk committed' && e.jobId === jobId);
    await sleep(50);
    short.child.kill('SIGTERM');
    expect((await short.exited).code).toBe(1);
    expect(short.events.at(-1)).toMatchObject({
      msg: expect.stringMatching(/^grace period over/) as unknown,
    });

    // A chunk of the compute-heavy model takes seconds: the drain is surely still running at the second signal.
    const slowJob = await d.submit('grace-slow', 4 * CHUNK_ROWS, 'heavy');
    const forced = d.fleet.start('forced', ['--grace-seconds', '60']);
    await forced.waitFor((e) => e.msg === 'chunk committed' && e.jobId === jobId);
    await forced.waitFor((e) => e.msg === 'features packed in the decoder' && e.jobId === slowJob);
    await sleep(50);
    forced.child.kill('SIGTERM');
    await forced.waitFor((e) => e.msg.startsWith('draining'));
    const sentAt = performance.now();
    forced.child.kill('SIGTERM');
    const exit = await forced.exited;
    expect(exit.code).toBe(143);
    expect(exit.at - sentAt).toBeLessThan(2_000);
    expect(forced.events.at(-1)).toMatchObject({ msg: 'second signal: exiting at once', signal: 'SIGTERM' });
  }, 60_000);

  const deviceOptions = (devices: DeviceRequest[]) =>
    supervisedWorkerOptions(dir, devices, { lockDurationMs: LOCK_SECONDS * 1_000 });

  it('several devices: one child worker per device, signals forwarded, and a child that dies drains the rest', async () => {
    const d = deployment();
    const options = deviceOptions([
      { kind: 'cpu', index: 0 },
      { kind: 'cpu', index: 0 },
    ]);
    const log = makeRecordingLog();
    const supervise = () => {
      const signals = new EventEmitter();
      const children: ChildProcess[] = [];
      const done = superviseDevices(options, {
        signals,
        env: { ...process.env, ...d.env },
        output: 'ignore',
        log,
        onChild: (child) => children.push(child),
      });
      return { signals, children, done };
    };
    const bothListening = async () => {
      for (let i = 0; i < 200 && (await d.queues.score.getWorkersCount()) < 2; i++) await sleep(50);
      expect(await d.queues.score.getWorkersCount()).toBe(2);
    };

    const first = supervise();
    expect(first.children).toHaveLength(2);
    await bothListening();
    first.signals.emit('SIGTERM', 'SIGTERM');
    expect(await first.done).toBe(0);
    expect(first.children.map((c) => c.exitCode)).toEqual([0, 0]);
    expect(log.withMessage('device worker exited')).toEqual([
      expect.objectContaining({ role: 'supervisor', level: 'info', code: 0 }),
      expect.objectContaining({ role: 'supervisor', level: 'info', code: 0 }),
    ]);

    const second = supervise();
    await bothListening();
    second.children[0]!.kill('SIGKILL');
    expect(await second.done).toBe(137);
    expect(second.children[1]!.exitCode).toBe(0);
    expect(second.signals.listenerCount('SIGTERM')).toBe(0);
  }, 60_000);

  it('binds each GPU child to its own GPU: the GPU alone in its environment, asked for as its GPU 0', async () => {
    const gpus = [
      { index: 0, pciBusId: '0000:3b:00.0', cudaId: 'GPU-3b3b3b3b-aaaa' },
      { index: 1, pciBusId: '0000:b1:00.0', cudaId: 'GPU-b1b1b1b1-bbbb' },
    ];
    const log = makeRecordingLog();
    const seen: Array<{ device: string; args: string[]; env: Map<string, string> }> = [];
    // libuv returns from spawn once the child has exec'd, so /proc shows the child's own argv and env.
    const readProc = (pid: number, file: string) =>
      readFileSync(`/proc/${pid}/${file}`, 'utf8')
        .split('\0')
        .filter((entry) => entry !== '');
    const status = await superviseDevices(
      deviceOptions([
        { kind: 'gpu', index: 1 },
        { kind: 'webgpu', index: 0 },
      ]),
      {
        signals: new EventEmitter(),
        // No GPU on this host: each child refuses `--devices gpu:0` and ends, which is all this test needs.
        env: { ...process.env, ...deployment().env, CUDA_VISIBLE_DEVICES: 'stale', DRI_PRIME: '1' },
        output: 'ignore',
        log,
        gpus,
        deviceSelectLayer: false,
        onChild: (child, device) => {
          const env = new Map(
            readProc(child.pid!, 'environ').map((e) => e.split(/=(.*)/s) as [string, string]),
          );
          seen.push({ device, args: readProc(child.pid!, 'cmdline'), env });
        },
      },
    );
    expect(status).not.toBe(0);
    expect(
      seen.map(({ device, args, env }) => ({
        device,
        asks: args[args.indexOf('--devices') + 1],
        cuda: env.get('CUDA_VISIBLE_DEVICES'),
        order: env.get('CUDA_DEVICE_ORDER'),
        prime: env.get('DRI_PRIME'),
        only: env.get('MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE'),
      })),
    ).toEqual([
      {
        device: 'gpu:1',
        asks: 'gpu:0',
        cuda: 'GPU-b1b1b1b1-bbbb',
        order: 'PCI_BUS_ID',
        prime: 'pci-0000_b1_00_0',
        only: '1',
      },
      {
        device: 'webgpu:0',
        asks: 'webgpu:0',
        cuda: 'GPU-3b3b3b3b-aaaa',
        order: 'PCI_BUS_ID',
        prime: 'pci-0000_3b_00_0',
        only: '1',
      },
    ]);
    expect(log.withMessage('device worker started')).toEqual([
      expect.objectContaining({ device: 'gpu:1', pciBusId: '0000:b1:00.0' }),
      expect.objectContaining({ device: 'webgpu:0', pciBusId: '0000:3b:00.0' }),
    ]);
    expect(
      log.records.filter((r) => r.level === 'warn' && /device-select layer is not installed/.test(r.msg)),
    ).toHaveLength(1);
  }, 60_000);
});
