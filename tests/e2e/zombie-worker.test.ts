import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRecord } from '../../schemas/job-record.js';
import { manifestSchema } from '../../schemas/manifest.js';
import { submitJob } from '../../jobs/submit-job.js';
import { makeFormatReaders } from '../../services/formats/make-reader.js';
import { makeRedisJobStore } from '../../services/queue/job-store.js';
import type { JobStore } from '../../jobs/ports/job-store.js';
import { makeQueues } from '../../services/queue/queues.js';
import { makeRedis } from '../../services/queue/redis-connection.js';
import { freePort, spawnRedisServer, waitForRedis } from '../../scripts/lib/demo-redis.js';
import { modelPath } from '../../scripts/lib/models.js';
import { featureColumns, writeDataset } from '../helpers/pipeline.js';
import { startS3Server, testS3ProcessEnv, type TestS3Server } from '../helpers/s3-server.js';
import { jobFolder, readVerifiedOutput } from '../helpers/verified-output.js';
import { type WorkerFleet, type WorkerHandle, makeWorkerFleet } from '../helpers/worker-processes.js';

// The compute-heavy model scores a few thousand rows a second here: a chunk lasts seconds, long enough to
// freeze a worker, or to stop Redis, in the middle of one.
const ROWS = 20_480;
const ROW_GROUP_ROWS = 4_096;
const LOCK_SECONDS = 2;
const CHECKPOINT_SECONDS = 0.5;
const MAIN_REDIS = 'redis://127.0.0.1:6379';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('zombie attempts (real worker processes, Redis, S3-protocol server, ONNX Runtime)', () => {
  let s3: TestS3Server;
  let redis: Redis;
  let dir: string;
  let clean: Array<[bigint, number]>;
  const fleets: WorkerFleet[] = [];
  const prefixes: string[] = [];
  const readers = makeFormatReaders();

  /** A deployment of its own on `redisUrl`: a random hash-tagged prefix, its store and queues, and a fleet. */
  function deployment(redisUrl: string, client: Redis) {
    const prefix = `{test-zombie-${randomUUID().slice(0, 8)}}`;
    if (redisUrl === MAIN_REDIS) prefixes.push(prefix);
    const store = makeRedisJobStore(client, prefix);
    // Quiet: the Redis restart test makes these connections fail on purpose for a while.
    const queues = makeQueues(client, prefix, () => undefined);
    const fleet = makeWorkerFleet({
      QUIVER_REDIS_URL: redisUrl,
      QUIVER_PREFIX: prefix,
      ...testS3ProcessEnv(s3.endpoint),
      QUIVER_MODEL_CACHE: join(dir, 'models'),
      QUIVER_TUNING_CACHE: join(dir, 'tuning.json'),
      QUIVER_LOCK_SECONDS: String(LOCK_SECONDS),
      QUIVER_CHECKPOINT_SECONDS: String(CHECKPOINT_SECONDS),
    });
    fleets.push(fleet);
    return {
      store,
      fleet,
      async start(name: string): Promise<WorkerHandle> {
        const worker = fleet.start(name);
        await worker.waitFor((e) => e.msg === 'worker started');
        return worker;
      },
      async submit(output: string, chunkRows: number): Promise<string> {
        const { record } = await submitJob(
          { store, queue: queues },
          {
            name: 'zombie-e2e',
            input: { uri: 's3://events/zombie/', format: 'parquet' },
            model: {
              uri: 's3://models/heavy.onnx',
              inputs: { features: { columns: featureColumns } },
              outputs: { score: { column: 'score' } },
            },
            output: { uri: `s3://scores/${output}/`, format: 'parquet', passthrough: ['id'] },
            // Small batches: a checkpoint (every half second of scoring) falls between calls often.
            batch: { rows: 512, chunkRows },
          },
        );
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

  /** The job's output through its manifest, with every part's size, SHA-256 and row count checked. */
  async function verifiedOutput(record: JobRecord) {
    const output = await readVerifiedOutput(s3.storage, readers, record.output.manifestUri!);
    expect(output.manifest.jobId).toBe(record.id);
    expect(output.manifest.parts.length).toBeGreaterThan(0);
    for (const part of output.manifest.parts) expect(part.sha256, part.uri).toMatch(/^[0-9a-f]{64}$/);
    expect(output.parts.filter((p) => !p.ok)).toEqual([]);
    expect(output.manifest.rowsScored).toBe(ROWS);
    expect(output.parts.reduce((n, p) => n + p.decodedRows, 0)).toBe(ROWS);
    return output;
  }

  /**
   * Objects in the job's folder that its accepted commits do not reference (what a zombie or a stopped
   * attempt left), and referenced ones that are missing; both empty once finalize's sweep has run. The
   * manifest's parts must be among the referenced objects.
   */
  async function folderDiff(store: JobStore, record: JobRecord) {
    const { stored, referenced } = await jobFolder(store, s3.storage, record);
    const manifest = manifestSchema.parse(
      JSON.parse(new TextDecoder().decode(await s3.storage.read(record.output.manifestUri!))),
    );
    return {
      unreferenced: stored.filter((uri) => !referenced.includes(uri)),
      missing: [...referenced, ...manifest.parts.map((p) => p.uri)].filter(
        (uri) => !stored.includes(uri) || !referenced.includes(uri),
      ),
    };
  }

  /** No row lost or doubled, and every score equal to the clean run's. */
  function expectCleanRows(rows: Array<[bigint, number]>): void {
    expect(rows.length).toBe(ROWS);
    expect(rows.every(([id], i) => id === BigInt(i))).toBe(true);
    const scores = Float32Array.from(rows, (r) => r[1]);
    const expected = Float32Array.from(clean, (r) => r[1]);
    expect(Buffer.from(scores.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-zombie-e2e-'));
    s3 = await startS3Server();
    for (const bucket of ['events', 'models', 'scores']) await s3.createBucket(bucket);
    await s3.storage.write('s3://models/heavy.onnx', await readFile(await modelPath('compute-heavy')));
    await writeDataset(s3.storage, 's3://events/zombie/', [['data.parquet', 0, ROWS]], {
      rowGroupRows: ROW_GROUP_ROWS,
    });
    redis = makeRedis(MAIN_REDIS);

    // The reference: one worker, nothing interrupted, one chunk.
    const d = deployment(MAIN_REDIS, redis);
    const worker = await d.start('clean');
    const done = await d.settle(await d.submit('clean', ROWS), 60_000);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    clean = (await verifiedOutput(done)).rows;
    expect(clean.length).toBe(ROWS);
    worker.child.kill('SIGTERM');
    await worker.exited;
  }, 90_000);

  afterAll(async () => {
    // SIGCONT first: a stopped process does not act on SIGKILL until it is continued.
    for (const fleet of fleets) for (const w of fleet.live()) w.child.kill('SIGCONT');
    await Promise.all(fleets.map((f) => f.killAll()));
    await readers.close();
    if (redis) {
      for (const prefix of prefixes) {
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length > 0) await redis.del(...keys);
      }
      redis.disconnect();
    }
    await s3?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a worker frozen (SIGSTOP) mid-chunk past its lock, thawed after the job succeeded and then killed, changes nothing the manifest references', async () => {
    const d = deployment(MAIN_REDIS, redis);
    const zombie = await d.start('zombie');
    const id = await d.submit('frozen', ROWS);
    // Frozen with one segment of the chunk accepted and the rest still being scored.
    const segment = await zombie.waitFor((e) => e.msg === 'segment committed' && e.jobId === id, 30_000);
    zombie.child.kill('SIGSTOP');
    const frozenAt = performance.now();
    const attemptA = segment.attempt as string;
    expect(attemptA).toMatch(/^[0-9a-z]{12}$/);
    expect((await d.store.get(id))!.status).toBe('running');

    // A second worker takes the chunk over once the frozen one's lock has expired, resuming after the
    // accepted segments, and the job succeeds while the first is still frozen.
    const taker = await d.start('taker');
    const done = await d.settle(id, 60_000);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    const resumed = await taker.waitFor((e) => e.msg === 'chunk resumed' && e.jobId === id, 1);
    expect(resumed.fromRow).toBeGreaterThanOrEqual(segment.rowEnd as number);
    expect(zombie.events.some((e) => e.msg === 'chunk committed')).toBe(false);
    const before = await verifiedOutput(done);
    expectCleanRows(before.rows);
    // The frozen attempt's accepted segment is part of the output: exactly what a zombie must not touch.
    expect(before.manifest.parts.some((p) => p.uri.includes(`-${attemptA}`))).toBe(true);

    // Thawed after success, frozen for longer than its lock: its lock renewal fails and its attempt stops.
    // It gets a second to do whatever it still would, then is killed -9.
    expect(performance.now() - frozenAt).toBeGreaterThan(LOCK_SECONDS * 1_000);
    const seen = zombie.events.length;
    zombie.child.kill('SIGCONT');
    await zombie.waitFor(
      (e) =>
        zombie.events.indexOf(e) >= seen &&
        (e.msg === 'lock lost; attempt aborted' || (e.msg === 'attempt stopped' && e.jobId === id)),
      10_000,
    );
    await sleep(1_000);
    zombie.child.kill('SIGKILL');
    expect((await zombie.exited).signal).toBe('SIGKILL');
    expect(zombie.events.some((e) => e.msg === 'chunk committed')).toBe(false);

    const after = (await d.store.get(id))!;
    expect(after.status).toBe('succeeded');
    expect(after.output.manifestUri).toBe(done.output.manifestUri);
    expect(after.progress).toMatchObject({ chunksTotal: 1, chunksDone: 1, rowsScored: ROWS });
    const output = await verifiedOutput(after);
    expect(output.manifest).toEqual(before.manifest);
    expectCleanRows(output.rows);
    await expect(s3.storage.stat(`${output.manifest.root}/_SUCCESS`)).resolves.toBeDefined();
    // Nothing the zombie might have written is left: the folder holds exactly what the accepted commit names.
    await expect
      .poll(() => folderDiff(d.store, after), { timeout: 10_000, interval: 250 })
      .toEqual({ unreferenced: [], missing: [] });
  }, 90_000);

  it('a Redis restart longer than the lock mid-job: workers reconnect, the job succeeds, the manifest output equals a clean run', async () => {
    const redisDir = await mkdtemp(join(tmpdir(), 'quiver-zombie-redis-'));
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const startRedis = (): ChildProcess => spawnRedisServer(port, redisDir, { appendonly: true });
    let server = startRedis();
    let client: Redis | undefined;
    let fleet: WorkerFleet | undefined;
    try {
      await waitForRedis(url);
      client = makeRedis(url);
      client.on('error', () => undefined);
      const d = deployment(url, client);
      fleet = d.fleet;
      const workers = await Promise.all([d.start('w1'), d.start('w2')]);
      // Three chunks of two row groups (the last one of one) over two workers of two chunks each.
      const chunkRows = 2 * ROW_GROUP_ROWS;
      const chunks = Math.ceil(ROWS / chunkRows);
      const id = await d.submit('restart', chunkRows);
      await Promise.race(
        workers.map((w) => w.waitFor((e) => e.msg === 'segment committed' && e.jobId === id, 30_000)),
      );
      const running = (await d.store.get(id))!;
      expect(running.status).toBe('running');
      expect(running.progress.chunksDone).toBeLessThan(chunks);

      // Down for twice the lock duration: every lock expires while Redis is away.
      server.kill('SIGKILL');
      await new Promise((r) => server.once('exit', r));
      await sleep(2 * LOCK_SECONDS * 1_000);
      server = startRedis();
      await waitForRedis(url, 10_000);

      const done = await d.settle(id, 60_000);
      expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
      expect(done.progress).toMatchObject({ chunksTotal: chunks, chunksDone: chunks, rowsScored: ROWS });
      const output = await verifiedOutput(done);
      expectCleanRows(output.rows);
      // Each chunk counted once, however many attempts the outage made it take.
      const firsts = workers.flatMap((w) =>
        w.events.filter((e) => e.msg === 'chunk committed' && e.jobId === id && e.first === true),
      );
      expect(firsts.map((e) => e.chunk as number).sort((a, b) => a - b)).toEqual(
        Array.from({ length: chunks }, (_, i) => i),
      );
      // The outage outlasted the locks: the attempts that held them were told so, and stopped.
      expect(workers.some((w) => w.events.some((e) => e.msg === 'lock lost; attempt aborted'))).toBe(true);
      // What the stopped attempts wrote is not referenced, and finalize's sweep removed it.
      await expect
        .poll(() => folderDiff(d.store, done), { timeout: 10_000, interval: 250 })
        .toEqual({ unreferenced: [], missing: [] });
    } finally {
      // Workers first, while this Redis is still up; then Redis.
      await fleet?.killAll();
      client?.disconnect();
      server.kill('SIGKILL');
      await rm(redisDir, { recursive: true, force: true });
    }
  }, 90_000);
});
