import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobStore } from '../../jobs/ports/job-store.js';
import { submitJob } from '../../jobs/submit-job.js';
import type { JobRecord } from '../../schemas/job-record.js';
import { modelPath } from '../../scripts/lib/models.js';
import { makeFormatReaders } from '../../services/formats/make-reader.js';
import { makeRedisJobStore } from '../../services/queue/job-store.js';
import { type PipelineQueues, makeQueues } from '../../services/queue/queues.js';
import {
  type RedisClient,
  type RedisConfig,
  makeRedisClient,
} from '../../services/queue/redis-connection.js';
import { featureColumns, writeDataset } from '../helpers/pipeline.js';
import { hostPortsOf, startRedisCluster, startRedisSentinel } from '../helpers/redis-topologies.js';
import { type TestS3Server, startS3Server, testS3ProcessEnv } from '../helpers/s3-server.js';
import { readVerifiedOutput } from '../helpers/verified-output.js';
import { type WorkerFleet, commitsByChunk, makeWorkerFleet } from '../helpers/worker-processes.js';

const CHUNK_ROWS = 2_048;
const CHUNKS = 24;
const ROWS = CHUNK_ROWS * CHUNKS;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Redis Cluster and Sentinel: real nodes, 3 worker processes, the master killed mid-job', () => {
  let s3: TestS3Server;
  let dir: string;
  const readers = makeFormatReaders();
  const fleets: WorkerFleet[] = [];
  const clients: RedisClient[] = [];
  const stops: Array<() => Promise<void>> = [];
  let reference: Float32Array;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-redis-topologies-'));
    s3 = await startS3Server();
    for (const bucket of ['events', 'models', 'scores']) await s3.createBucket(bucket);
    // Seconds of scoring per job: long enough to kill a master while chunks are in flight.
    await s3.storage.write('s3://models/heavy.onnx', await readFile(await modelPath('compute-heavy')));
    await writeDataset(s3.storage, 's3://events/in/', [['data.parquet', 0, ROWS]], {
      rowGroupRows: CHUNK_ROWS,
    });
    // The reference: the same job on one plain Redis node.
    const plain = deployment({ url: 'redis://127.0.0.1:6379' });
    await plain.fleet.start('reference').waitFor((e) => e.msg === 'worker started');
    const done = await plain.settle(await plain.submit('reference'), 60_000);
    reference = (await outputRows(done)).scores;
  }, 180_000);

  afterAll(async () => {
    await Promise.all(fleets.map((fleet) => fleet.killAll()));
    for (const client of clients) client.disconnect();
    for (const stop of stops) await stop();
    await readers.close();
    await s3?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A store, queues and a worker fleet on `redis` under a prefix of their own. */
  function deployment(
    redis: Pick<RedisConfig, 'url' | 'cluster' | 'sentinel'>,
    env: Record<string, string> = {},
  ) {
    const prefix = `{test-topology-${randomUUID().slice(0, 8)}}`;
    const client = makeRedisClient(redis);
    client.on('error', () => undefined);
    clients.push(client);
    const store: JobStore = makeRedisJobStore(client, prefix);
    // This process's queues see the failover too; its errors are the ones the test causes.
    const queues: PipelineQueues = makeQueues(client, prefix, () => undefined);
    stops.unshift(() => queues.close());
    const fleet = makeWorkerFleet({
      QUIVER_REDIS_URL: redis.url,
      QUIVER_PREFIX: prefix,
      ...testS3ProcessEnv(s3.endpoint),
      QUIVER_MODEL_CACHE: join(dir, 'models'),
      QUIVER_TUNING_CACHE: join(dir, 'tuning.json'),
      ...env,
    });
    fleets.push(fleet);
    const submit = async (output: string) =>
      (
        await submitJob(
          { store, queue: queues },
          {
            name: 'topology-e2e',
            input: { uri: 's3://events/in/', format: 'parquet' },
            model: {
              uri: 's3://models/heavy.onnx',
              inputs: { features: { columns: featureColumns } },
              outputs: { score: { column: 'score' } },
            },
            output: {
              uri: `s3://scores/${output}-${prefix.slice(1, -1)}/`,
              format: 'parquet',
              passthrough: ['id'],
            },
            batch: { rows: 1_024, chunkRows: CHUNK_ROWS },
          },
        )
      ).record.id;
    const settle = async (id: string, timeoutMs = 120_000): Promise<JobRecord> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const record = await store.get(id).catch(() => undefined);
        if (record && ['succeeded', 'failed', 'cancelled'].includes(record.status)) return record;
        if (Date.now() > deadline)
          throw new Error(
            `job ${id} still ${record?.status}: ${JSON.stringify(record?.progress)}; workers said ${fleet.all.flatMap((w) => w.events.slice(-5).map((e) => JSON.stringify(e))).join(' | ')}`,
          );
        await sleep(200);
      }
    };
    return {
      prefix,
      store,
      fleet,
      submit,
      settle,
      async run(output: string) {
        const done = await settle(await submit(output));
        expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
        return done;
      },
    };
  }

  /** The job's scores, by id, read through its manifest with every part's size and digest checked. */
  async function outputRows(record: JobRecord): Promise<{ ids: bigint[]; scores: Float32Array }> {
    const { parts, rows } = await readVerifiedOutput(s3.storage, readers, record.output.manifestUri!);
    expect(parts.every((part) => part.ok)).toBe(true);
    return { ids: rows.map((r) => r[0]), scores: Float32Array.from(rows, (r) => r[1]) };
  }

  async function expectExactOutput(record: JobRecord, fleet: WorkerFleet): Promise<void> {
    expect(record.progress).toMatchObject({ chunksTotal: CHUNKS, chunksDone: CHUNKS, rowsScored: ROWS });
    const { ids, scores } = await outputRows(record);
    expect(ids.length).toBe(ROWS);
    expect(ids.every((id, i) => id === BigInt(i))).toBe(true);
    expect(Buffer.from(scores.buffer).equals(Buffer.from(reference.buffer))).toBe(true);
    const commits = commitsByChunk(fleet.all, record.id);
    expect([...commits.values()].every((n) => n === 1)).toBe(true);
  }

  /** Waits until `id` has committed `n` chunks and still has some left. */
  async function midJob(store: JobStore, id: string, n: number): Promise<void> {
    for (let tries = 0; ; tries++) {
      const record = await store.get(id);
      if (record && record.progress.chunksDone >= n) {
        expect(record.progress.chunksDone).toBeLessThan(CHUNKS);
        return;
      }
      if (tries > 600) throw new Error(`job ${id} did not reach ${n} chunks`);
      await sleep(50);
    }
  }

  it('a 3-master + 3-replica Cluster: output identical to one plain node; a failover of the prefix’s master mid-job loses nothing', async () => {
    const cluster = await startRedisCluster(join(dir, 'cluster'));
    stops.push(() => cluster.stop());
    const nodes = hostPortsOf(cluster.nodeList);
    const d = deployment(
      { url: 'redis://127.0.0.1:6379', cluster: nodes },
      { QUIVER_REDIS_CLUSTER_NODES: cluster.nodeList },
    );
    const workers = [1, 2, 3].map((n) => d.fleet.start(`cluster-worker-${n}`));
    await Promise.all(workers.map((w) => w.waitFor((e) => e.msg === 'worker started')));
    await expectExactOutput(await d.run('cluster'), d.fleet);

    const id = await d.submit('cluster-failover');
    await midJob(d.store, id, 3);
    const master = await cluster.masterOf(d.prefix);
    await master.kill();
    const done = await d.settle(id);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    await expectExactOutput(done, d.fleet);
    // A replica serves the slot now, and no worker had to be restarted.
    expect((await cluster.masterOf(d.prefix)).port).not.toBe(master.port);
    expect(d.fleet.live()).toHaveLength(3);
  }, 240_000);

  it('a Sentinel-watched master with one replica: the master killed mid-job, the promoted replica finishes it', async () => {
    const sentinel = await startRedisSentinel(join(dir, 'sentinel'));
    stops.push(() => sentinel.stop());
    const sentinels = hostPortsOf(sentinel.sentinelList);
    const d = deployment(
      { url: 'redis://127.0.0.1:6379', sentinel: { sentinels, name: sentinel.name } },
      { QUIVER_REDIS_SENTINELS: sentinel.sentinelList, QUIVER_REDIS_SENTINEL_NAME: sentinel.name },
    );
    const workers = [1, 2, 3].map((n) => d.fleet.start(`sentinel-worker-${n}`));
    await Promise.all(workers.map((w) => w.waitFor((e) => e.msg === 'worker started')));

    const id = await d.submit('sentinel-failover');
    await midJob(d.store, id, 3);
    await sentinel.master.kill();
    const done = await d.settle(id);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    await expectExactOutput(done, d.fleet);
    expect(await sentinel.masterPort()).toBe(sentinel.replica.port);
    expect(d.fleet.live()).toHaveLength(3);
  }, 240_000);
});
