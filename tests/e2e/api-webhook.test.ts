import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveryListSchema, jobResultsSchema } from '../../schemas/api.js';
import { jobViewSchema, type JobView } from '../../schemas/job-record.js';
import { webhookEventSchema } from '../../schemas/webhook-event.js';
import { modelPath } from '../../scripts/lib/models.js';
import { makeRedis } from '../../services/queue/redis-connection.js';
import { type ApiProcess, startApiProcess } from '../helpers/api-process.js';
import { featureColumns, writeDataset } from '../helpers/pipeline.js';
import {
  startS3Server,
  testS3Credentials,
  testS3ProcessEnv,
  type TestS3Server,
} from '../helpers/s3-server.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { type WorkerFleet, makeWorkerFleet } from '../helpers/worker-processes.js';

const ROWS = 12_000;
const SECRET = `whsec_${randomBytes(24).toString('base64')}`;

/**
 * Issue 5's end-to-end check: the API and a worker run as processes, a job is submitted over HTTP, its
 * webhook arrives at a loopback receiver that verifies it with the `standardwebhooks` package, the job is
 * polled to success and its presigned result URLs download the parts.
 */
describe('API + worker processes: submit over HTTP, signed webhook, poll, results', () => {
  let dir: string;
  let s3: TestS3Server;
  let redis: Redis;
  let api: ApiProcess;
  let fleet: WorkerFleet;
  let receiver: WebhookReceiver;
  const prefix = `{test-e2e-${randomUUID().slice(0, 8)}}`;
  const keys = {
    acme: `acme-${randomBytes(16).toString('hex')}`,
    rival: `rival-${randomBytes(16).toString('hex')}`,
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-api-e2e-'));
    s3 = await startS3Server();
    for (const bucket of ['events', 'models', 'scores']) await s3.createBucket(bucket);
    await s3.storage.write('s3://models/mlp.onnx', await readFile(await modelPath('tabular-mlp')));
    await writeDataset(s3.storage, 's3://events/dt=2026-11-28/', [
      ['a.parquet', 0, 8_000],
      ['b.parquet', 8_000, 4_000],
    ]);
    redis = makeRedis('redis://127.0.0.1:6379');
    receiver = await startWebhookReceiver({ secrets: [SECRET] });
    const env = {
      QUIVER_REDIS_URL: 'redis://127.0.0.1:6379',
      QUIVER_PREFIX: prefix,
      ...testS3ProcessEnv(s3.endpoint),
    };
    api = await startApiProcess({
      ...env,
      QUIVER_API_KEYS: `acme:${keys.acme},rival:${keys.rival}`,
      // Two tenants without storage grants: this test's deployment is one trust domain.
      QUIVER_STORAGE_GRANTS: 'open',
      QUIVER_WEBHOOK_ALLOW: '127.0.0.1/32',
    });
    fleet = makeWorkerFleet({
      ...env,
      QUIVER_MODEL_CACHE: join(dir, 'models'),
      QUIVER_TUNING_CACHE: join(dir, 'tuning.json'),
      // The receiver listens on loopback, which the SSRF guard refuses unless the operator allows it.
      QUIVER_WEBHOOK_ALLOW: '127.0.0.1/32',
      QUIVER_WEBHOOK_RETRY_SCHEDULE: '200ms,400ms,800ms',
    });
    fleet.start('worker-1');
  }, 120_000);

  afterAll(async () => {
    await fleet?.killAll();
    await api?.stop();
    await receiver?.close();
    if (redis) {
      const found = await redis.keys(`${prefix}*`);
      if (found.length > 0) await redis.del(...found);
      redis.disconnect();
    }
    await s3?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const call = async (method: string, path: string, key: string, body?: unknown) => {
    const response = await fetch(`${api.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: await response.json() };
  };

  it('delivers a verified job.succeeded webhook, and the results URLs download the manifest parts', async () => {
    // The receiver is down at first (500, then 429 with Retry-After): the delivery retries until it answers.
    receiver.answer({ status: 500 }, { status: 429, headers: { 'retry-after': '1' } });
    const spec = {
      name: 'e2e-webhook',
      input: { uri: 's3://events/dt=2026-11-28/', format: 'parquet' },
      model: {
        uri: 's3://models/mlp.onnx',
        inputs: { features: { columns: featureColumns } },
        outputs: { score: { column: 'score' } },
      },
      output: { uri: 's3://scores/e2e/', format: 'parquet', passthrough: ['id'] },
      batch: { rows: 1_024, chunkRows: 5_000 },
      webhook: { url: receiver.url, secret: SECRET },
      labels: { team: 'risk' },
    };
    const submitted = await call('POST', '/v1/jobs', keys.acme, spec);
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(201);
    const job = jobViewSchema.parse(submitted.body);
    // The secret never comes back.
    expect(JSON.stringify(submitted.body)).not.toContain(SECRET);

    // Another tenant cannot see it.
    expect((await call('GET', `/v1/jobs/${job.id}`, keys.rival)).status).toBe(404);

    // Long-poll until it is finished.
    let view: JobView = job;
    const deadline = Date.now() + 90_000;
    while (!['succeeded', 'failed', 'cancelled'].includes(view.status)) {
      expect(Date.now()).toBeLessThan(deadline);
      const polled = await call('GET', `/v1/jobs/${job.id}?waitSeconds=5`, keys.acme);
      expect(polled.status).toBe(200);
      view = jobViewSchema.parse(polled.body);
    }
    expect(view.status, JSON.stringify(view.error)).toBe('succeeded');
    expect(view.progress).toMatchObject({
      rowsScored: ROWS,
      rowsRejected: 0,
      chunksDone: view.progress.chunksTotal,
    });

    // The webhook: two refused attempts, then one verified delivery of job.succeeded.
    const received = await receiver.waitFor(3, 30_000);
    expect(received.map((r) => r.answered)).toEqual([500, 429, 200]);
    const delivered = received[2]!;
    expect(delivered.verifiedWith).toBe(0);
    const event = webhookEventSchema.parse(delivered.event);
    expect(event.type).toBe('job.succeeded');
    expect(event.data).toMatchObject({
      id: job.id,
      status: 'succeeded',
      labels: { team: 'risk' },
      progress: { rowsScored: ROWS },
      output: { manifestUri: view.output.manifestUri },
    });
    expect(delivered.body).not.toContain(SECRET);
    // Every attempt carries the same webhook-id, and the Retry-After of 1 s was waited out.
    expect(new Set(received.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(received[2]!.at - received[1]!.at).toBeGreaterThanOrEqual(900);

    const deliveries = deliveryListSchema.parse(
      (await call('GET', `/v1/jobs/${job.id}/deliveries`, keys.acme)).body,
    );
    expect(deliveries.deliveries).toHaveLength(1);
    expect(deliveries.deliveries[0]).toMatchObject({ event: 'job.succeeded', status: 'delivered' });
    expect(deliveries.deliveries[0]!.attempts.map((a) => a.statusCode)).toEqual([500, 429, 200]);

    // A manual retry sends it again, same webhook-id, still verified; another tenant cannot retry it.
    const retryPath = `/v1/jobs/${job.id}/deliveries/${deliveries.deliveries[0]!.id}/retry`;
    expect((await call('POST', retryPath, keys.rival, {})).status).toBe(404);
    expect((await call('POST', retryPath, keys.acme, {})).status).toBe(202);
    const again = (await receiver.waitFor(4, 30_000))[3]!;
    expect([again.verifiedWith, again.headers['webhook-id']]).toEqual([0, delivered.headers['webhook-id']]);

    // Results: presigned URLs that download exactly the parts the manifest lists.
    const results = await call('GET', `/v1/jobs/${job.id}/results`, keys.acme);
    expect(results.status).toBe(200);
    const parsed = jobResultsSchema.parse(results.body);
    expect(parsed.manifest).toMatchObject({ inputRows: ROWS, rowsScored: ROWS });
    expect(parsed.parts.reduce((n, p) => n + p.rows, 0)).toBe(ROWS);
    for (const part of parsed.parts) {
      expect(part.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
      const downloaded = new Uint8Array(await (await fetch(part.url!)).arrayBuffer());
      expect(Buffer.from(downloaded).equals(Buffer.from(await s3.storage.read(part.uri)))).toBe(true);
      expect(downloaded.subarray(0, 4)).toEqual(new TextEncoder().encode('PAR1'));
    }
  });

  it('delivers job.failed with the error code when the job fails', async () => {
    const spec = {
      input: { uri: 's3://events/dt=2026-11-28/', format: 'parquet' },
      model: {
        uri: 's3://models/mlp.onnx',
        inputs: { features: { columns: [...featureColumns.slice(1), 'no_such_column'] } },
        outputs: { score: { column: 'score' } },
      },
      output: { uri: 's3://scores/e2e-failed/', passthrough: ['id'] },
      webhook: { url: receiver.url, secret: SECRET },
    };
    const before = receiver.received.length;
    const submitted = await call('POST', '/v1/jobs', keys.acme, spec);
    expect(submitted.status).toBe(201);
    const id = jobViewSchema.parse(submitted.body).id;
    const [last] = (await receiver.waitFor(before + 1, 60_000)).slice(-1);
    const event = webhookEventSchema.parse(last!.event);
    expect(event.type).toBe('job.failed');
    expect(event.data.id).toBe(id);
    expect(event.data.error?.code).toMatch(/^FEATURE_COLUMN_MISSING$/);
    expect(event.data.error?.message).toContain('no_such_column');
  });

  it('no process wrote a secret: API keys, the webhook secret and the S3 secret key stay out of the logs', async () => {
    await api.stop();
    await Promise.all(
      fleet.all.map(async (w) => {
        w.child.kill('SIGTERM');
        await w.exited;
      }),
    );
    const output = [...api.output, ...fleet.all.flatMap((w) => w.output)];
    // Log lines are JSON; anything else is Node's own (a runtime warning).
    const lines = output
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg: string; level: string });
    // The logs are there to be searched: request logs, the worker's chunk and webhook lines.
    expect(lines.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['api listening', 'request completed', 'chunk committed', 'webhook attempt']),
    );
    const everything = output.join('\n');
    for (const secret of [keys.acme, keys.rival, SECRET, testS3Credentials.secretAccessKey])
      expect(everything).not.toContain(secret);
  });
});
