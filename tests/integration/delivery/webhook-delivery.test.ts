import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeliveryRecord } from '../../../schemas/delivery.js';
import type { JobRecord } from '../../../schemas/job-record.js';
import { parseJobSpec } from '../../../schemas/job-spec.js';
import { makeDeliverWorker } from '../../../services/delivery/deliver-worker.js';
import { compileDeliveryOptions, type DeliveryOptions } from '../../../services/delivery/delivery-options.js';
import {
  deliveryIdOf,
  makeRedisDeliveries,
  type RedisDeliveries,
} from '../../../services/delivery/redis-deliveries.js';
import { makeRedisJobStore } from '../../../services/queue/job-store.js';
import type { JobStore } from '../../../jobs/ports/job-store.js';
import { makeQueues, type PipelineQueues } from '../../../services/queue/queues.js';
import { makeRedis } from '../../../services/queue/redis-connection.js';
import { freePort } from '../../../scripts/lib/demo-redis.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../helpers/webhook-receiver.js';
import { type RecordingLog, lastRecords, makeRecordingLog } from '../../helpers/recording-log.js';

const newSecret = (): string => `whsec_${randomBytes(24).toString('base64')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Harness {
  prefix: string;
  redis: Redis;
  store: JobStore;
  queues: PipelineQueues;
  deliveries: RedisDeliveries;
  worker: Worker;
  log: RecordingLog;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** Deliveries, queues and a deliver worker on real Redis under a fresh prefix; removed after the test. */
function harness(options: DeliveryOptions): Harness {
  const prefix = `{test-${randomUUID().slice(0, 8)}}`;
  const redis = makeRedis('redis://127.0.0.1:6379');
  const store = makeRedisJobStore(redis, prefix);
  const log = makeRecordingLog();
  const queues = makeQueues(redis, prefix, (error) => log.error({ err: error }, 'queue error'));
  const deliveries = makeRedisDeliveries({ redis, prefix, queues });
  const worker = makeDeliverWorker({
    connection: redis,
    prefix,
    queues,
    ledger: deliveries,
    jobs: store,
    config: compileDeliveryOptions({ timeoutSeconds: 5, ...options }),
    log,
  });
  cleanups.push(async () => {
    await worker.close();
    await queues.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  return { prefix, redis, store, queues, deliveries, worker, log };
}

async function receiver(options: Parameters<typeof startWebhookReceiver>[0]): Promise<WebhookReceiver> {
  const started = await startWebhookReceiver(options);
  cleanups.push(() => started.close());
  return started;
}

/** A job that reached `status`, with a webhook to `url`. */
async function finishedJob(
  h: Harness,
  url: string,
  secret: string,
  status: 'succeeded' | 'failed' = 'succeeded',
  previousSecret?: string,
): Promise<JobRecord> {
  const spec = parseJobSpec({
    name: 'hooked',
    input: { uri: 'file:///tmp/in/', format: 'csv' },
    model: { uri: 'file:///tmp/m.onnx' },
    output: { uri: 'file:///tmp/out/' },
    webhook: { url, secret, ...(previousSecret === undefined ? {} : { previousSecret }) },
    labels: { team: 'risk' },
  });
  const { record } = await h.store.create(spec);
  if (status === 'failed') {
    return h.store.transition(record.id, 'failed', {
      error: { code: 'FEATURE_COLUMN_MISSING', message: 'no f9' },
    });
  }
  await h.store.transition(record.id, 'planning');
  await h.store.transition(record.id, 'finalizing');
  return h.store.transition(record.id, 'succeeded', {
    manifestUri: `file:///tmp/out/${record.id}/_manifest.json`,
  });
}

/** Polls the job's only delivery until `done` holds. */
async function deliveryWhen(
  h: Harness,
  jobId: string,
  done: (d: DeliveryRecord) => boolean,
  timeoutMs = 20_000,
): Promise<DeliveryRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [delivery] = await h.deliveries.list(jobId);
    if (delivery && done(delivery)) return delivery;
    if (Date.now() > deadline) {
      throw new Error(`delivery still ${JSON.stringify(delivery)}; ${lastRecords(h.log)}`);
    }
    await sleep(20);
  }
}

describe('webhook delivery (real Redis, BullMQ and loopback HTTP receivers)', () => {
  it('retries a receiver that is down, then failing, then rate-limiting, with growing delays, and delivers once', async () => {
    const h = harness({ allow: '127.0.0.1/32', retrySchedule: '400ms,800ms,1.5s,2s,5s' });
    const secret = newSecret();
    const port = await freePort();
    const job = await finishedJob(h, `http://127.0.0.1:${port}/hook`, secret);
    // Announced many times, concurrently: one delivery, one first attempt.
    await Promise.all([h.deliveries.announce(job), h.deliveries.announce(job), h.deliveries.announce(job)]);

    const down = await deliveryWhen(h, job.id, (d) => d.attempts.length === 1);
    expect(down.attempts[0]).toMatchObject({
      attempt: 1,
      error: expect.stringContaining('ECONNREFUSED') as unknown,
    });
    expect(down.attempts[0]?.statusCode).toBeUndefined();
    expect(down.status).toBe('pending');

    const hook = await receiver({ secrets: [secret], port });
    hook.answer({ status: 500 }, { status: 500 }, { status: 429, headers: { 'retry-after': '3' } });
    const delivered = await deliveryWhen(h, job.id, (d) => d.status !== 'pending');

    expect(delivered).toMatchObject({
      id: deliveryIdOf(job.id, 'job.succeeded'),
      jobId: job.id,
      event: 'job.succeeded',
    });
    expect(delivered.status).toBe('delivered');
    expect(delivered.nextAttemptAt).toBeUndefined();
    expect(delivered.attempts.map((a) => a.statusCode ?? 'none')).toEqual(['none', 500, 500, 429, 200]);
    expect(delivered.attempts.map((a) => a.attempt)).toEqual([1, 2, 3, 4, 5]);
    expect(delivered.attempts[3]?.retryAfterSeconds).toBe(3);
    expect(delivered.attempts[4]?.error).toBeUndefined();

    const starts = delivered.attempts.map((a) => Date.parse(a.at));
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
    // 400 ms, 800 ms, 1.5 s ±20% (plus the attempt's own time), then Retry-After's 3 s over the schedule's 2 s.
    expect(gaps[0]).toBeGreaterThanOrEqual(320);
    expect(gaps[1]).toBeGreaterThanOrEqual(640);
    expect(gaps[2]).toBeGreaterThanOrEqual(1_200);
    expect(gaps[3]).toBeGreaterThanOrEqual(3_000);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]).toBeGreaterThan(gaps[i - 1]!);

    // Every request was the same message, verified by the independent implementation.
    expect(hook.received).toHaveLength(4);
    for (const request of hook.received) {
      expect(request.verifiedWith).toBe(0);
      expect(request.headers['webhook-id']).toBe(delivered.id);
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['user-agent']).toMatch(/^Quiver-Webhooks\//);
      expect(request.body).toBe(hook.received[0]?.body);
      expect(request.body).not.toContain(secret);
    }
    expect(hook.received[0]?.event).toMatchObject({
      type: 'job.succeeded',
      timestamp: delivered.createdAt,
      data: {
        id: job.id,
        status: 'succeeded',
        name: 'hooked',
        labels: { team: 'risk' },
        output: { manifestUri: `file:///tmp/out/${job.id}/_manifest.json` },
      },
    });

    // Delivered means done: no attempt left queued, and announcing again sends nothing.
    await h.deliveries.announce(job);
    await sleep(500);
    expect(hook.received).toHaveLength(4);
    expect(await h.queues.deliver.getDelayedCount()).toBe(0);
    expect(await h.queues.deliver.getWaitingCount()).toBe(0);
    expect(await h.deliveries.list(job.id)).toHaveLength(1);
  });

  it('signs with both secrets while one is being rotated out', async () => {
    const h = harness({ allow: '127.0.0.1/32', retrySchedule: '50ms' });
    const [current, previous] = [newSecret(), newSecret()];
    const oldReceiver = await receiver({ secrets: [previous] });
    const job = await finishedJob(h, oldReceiver.url, current, 'succeeded', previous);
    await h.deliveries.announce(job);
    await deliveryWhen(h, job.id, (d) => d.status === 'delivered');
    const [request] = oldReceiver.received;
    expect(request?.verifiedWith).toBe(0);
    expect(String(request?.headers['webhook-signature']).split(' ')).toHaveLength(2);
  });

  it('stops at 410 Gone (disabled), and a retry re-delivers the same message', async () => {
    const h = harness({ allow: '127.0.0.1/32', retrySchedule: '50ms,50ms,50ms' });
    const secret = newSecret();
    const hook = await receiver({ secrets: [secret] });
    hook.answer({ status: 410 });
    const job = await finishedJob(h, hook.url, secret, 'failed');
    await h.deliveries.announce(job);
    const disabled = await deliveryWhen(h, job.id, (d) => d.status !== 'pending');
    expect(disabled.status).toBe('disabled');
    expect(disabled.attempts).toMatchObject([{ attempt: 1, statusCode: 410 }]);
    await sleep(400);
    expect(hook.received).toHaveLength(1);

    const retried = await h.deliveries.retry(job.id, disabled.id);
    expect(retried?.status).toMatch(/pending|delivered/);
    const delivered = await deliveryWhen(h, job.id, (d) => d.status === 'delivered');
    expect(delivered.attempts.map((a) => a.statusCode)).toEqual([410, 200]);
    await hook.waitFor(2);
    expect(hook.received.map((r) => r.headers['webhook-id'])).toEqual([disabled.id, disabled.id]);
    expect(hook.received[1]?.event).toMatchObject({
      type: 'job.failed',
      data: { id: job.id, status: 'failed', error: { code: 'FEATURE_COLUMN_MISSING' } },
    });
  });

  it('fails once the schedule is spent; a retry starts it again and delivers', async () => {
    const h = harness({ allow: '127.0.0.1/32', retrySchedule: '50ms,100ms' });
    const secret = newSecret();
    const hook = await receiver({ secrets: [secret] });
    hook.fallback = { status: 503 };
    const job = await finishedJob(h, hook.url, secret);
    await h.deliveries.announce(job);
    const failed = await deliveryWhen(h, job.id, (d) => d.status !== 'pending');
    expect(failed.status).toBe('failed');
    expect(failed.attempts.map((a) => [a.statusCode, a.error])).toEqual([
      [503, 'receiver answered 503'],
      [503, 'receiver answered 503'],
      [503, 'receiver answered 503'],
    ]);
    await sleep(300);
    expect(hook.received).toHaveLength(3);

    expect(await h.deliveries.retry(job.id, 'msg_nope')).toBeUndefined();
    expect(await h.deliveries.retry(job.id, '../../etc')).toBeUndefined();
    expect(await h.deliveries.retry('no-such-job', failed.id)).toBeUndefined();

    // A fresh schedule: the receiver fails once more, then recovers within it.
    hook.answer({ status: 500 });
    hook.fallback = { status: 200 };
    await h.deliveries.retry(job.id, failed.id);
    const delivered = await deliveryWhen(h, job.id, (d) => d.status === 'delivered');
    expect(delivered.attempts.map((a) => a.statusCode)).toEqual([503, 503, 503, 500, 200]);
  });

  it('never follows a redirect, to a private address or anywhere', async () => {
    const h = harness({ allow: '127.0.0.1/32', retrySchedule: '50ms' });
    const secret = newSecret();
    const target = await receiver({ secrets: [secret] });
    const hook = await receiver({ secrets: [secret] });
    hook.answer(
      { status: 302, headers: { location: target.url } },
      { status: 307, headers: { location: 'http://169.254.169.254/latest/meta-data/' } },
    );
    const job = await finishedJob(h, hook.url, secret);
    await h.deliveries.announce(job);
    const failed = await deliveryWhen(h, job.id, (d) => d.status !== 'pending');
    expect(failed.status).toBe('failed');
    expect(failed.attempts).toMatchObject([
      { statusCode: 302, error: expect.stringContaining('redirect not followed') as unknown },
      { statusCode: 307, error: expect.stringContaining('169.254.169.254') as unknown },
    ]);
    await sleep(200);
    expect(target.received).toHaveLength(0);
  });

  it.each([
    ['a loopback address', (port: number) => `http://127.0.0.1:${port}/hook`, '127.0.0.1'],
    ['a hostname that resolves to loopback', (port: number) => `http://localhost:${port}/hook`, 'loopback'],
    [
      'an IPv4-mapped loopback address',
      (port: number) => `http://[::ffff:127.0.0.1]:${port}/hook`,
      'loopback',
    ],
  ])('refuses %s without the allowlist: nothing sent, the reason recorded', async (_what, urlOf, why) => {
    const h = harness({ retrySchedule: '50ms,50ms' });
    const secret = newSecret();
    const hook = await receiver({ secrets: [secret] });
    const job = await finishedJob(h, urlOf(hook.port), secret);
    await h.deliveries.announce(job);
    const refused = await deliveryWhen(h, job.id, (d) => d.status !== 'pending');
    expect(refused.status).toBe('refused');
    expect(refused.attempts).toHaveLength(1);
    expect(refused.attempts[0]?.statusCode).toBeUndefined();
    expect(refused.attempts[0]?.error).toContain('WEBHOOK_URL_REFUSED');
    expect(refused.attempts[0]?.error).toContain(why);
    expect(refused.attempts[0]?.error).toContain('QUIVER_WEBHOOK_ALLOW');
    await sleep(200);
    expect(hook.received).toHaveLength(0);
  });

  it('records a receiver that never answers as timed out, and retries it', async () => {
    const h = harness({ allow: '127.0.0.1/32', retrySchedule: '50ms', timeoutSeconds: 0.3 });
    const hanging = createServer(() => undefined);
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise((resolve) => {
          hanging.closeAllConnections();
          hanging.close(resolve);
        }),
    );
    const { port } = hanging.address() as AddressInfo;
    const job = await finishedJob(h, `http://127.0.0.1:${port}/hook`, newSecret());
    await h.deliveries.announce(job);
    const failed = await deliveryWhen(h, job.id, (d) => d.status !== 'pending');
    expect(failed.status).toBe('failed');
    expect(failed.attempts.map((a) => a.error)).toEqual(['no answer within 0.3 s', 'no answer within 0.3 s']);
    for (const attempt of failed.attempts) expect(attempt.durationMs).toBeGreaterThanOrEqual(250);
  });

  it('after a crash between recording an attempt and queueing the next, queues it without resending', async () => {
    const h = harness({ allow: '127.0.0.1/32', retrySchedule: '50ms' });
    const secret = newSecret();
    const hook = await receiver({ secrets: [secret] });
    const job = await finishedJob(h, hook.url, secret);
    // The worker is away while attempt 1 is queued; then attempt 1 is recorded as a dead worker would have
    // left it, and BullMQ hands its job out again (stalled-job recovery).
    await h.worker.pause();
    await h.deliveries.announce(job);
    const [delivery] = await h.deliveries.list(job.id);
    await h.queues.deliver.obliterate({ force: true });
    const recorded = await h.deliveries.recordAttempt(
      job.id,
      delivery!.id,
      {
        attempt: 1,
        at: new Date().toISOString(),
        durationMs: 3,
        statusCode: 500,
        error: 'receiver answered 500',
      },
      { status: 'pending', nextAttemptAt: new Date(Date.now() + 50).toISOString() },
    );
    expect(recorded).toBe(true);
    // The same attempt cannot be recorded twice.
    expect(
      await h.deliveries.recordAttempt(
        job.id,
        delivery!.id,
        { attempt: 1, at: new Date().toISOString(), durationMs: 1, statusCode: 200 },
        { status: 'delivered' },
      ),
    ).toBe(false);
    await h.queues.enqueueDelivery({ jobId: job.id, deliveryId: delivery!.id, attempt: 1 }, 0);
    await h.worker.resume();
    const delivered = await deliveryWhen(h, job.id, (d) => d.status === 'delivered');
    expect(delivered.attempts.map((a) => a.statusCode)).toEqual([500, 200]);
    expect(hook.received).toHaveLength(1);
  });

  it('does nothing for a job without a webhook or not yet finished', async () => {
    const h = harness({ allow: '127.0.0.1/32' });
    const job = await finishedJob(h, 'http://127.0.0.1:9/hook', newSecret());
    await h.deliveries.announce({ ...job, status: 'running' });
    await h.deliveries.announce({ ...job, spec: { ...job.spec, webhook: undefined } });
    expect(await h.deliveries.list(job.id)).toEqual([]);
    expect(await h.queues.deliver.count()).toBe(0);
  });
});
