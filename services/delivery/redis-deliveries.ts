import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { DeliveryLedger, DeliveryState } from '../../jobs/deliver/process-deliver.js';
import {
  deliveryAttemptSchema,
  deliveryRecordSchema,
  type DeliveryRecord,
  type DeliveryStatus,
} from '../../schemas/delivery.js';
import type { JobRecord } from '../../schemas/job-record.js';
import { webhookEventTypeOf, type WebhookEventType } from '../../schemas/webhook-event.js';
import type { PipelineQueues } from '../queue/queues.js';
import type { Deliveries } from './deliveries.js';

export interface RedisDeliveriesOptions {
  redis: Redis;
  /** The deployment's hash-tagged prefix (`{quiver}`), the same as the job store's. */
  prefix: string;
  /** Where attempts are queued: the deployment's queues from `makeQueues`. */
  queues: Pick<PipelineQueues, 'enqueueDelivery'>;
  /** Clock for timestamps. Default `() => new Date()`. */
  now?: () => Date;
}

/** Deliveries for the API and the pipeline, and the ledger the `deliver` processor records attempts in. */
export type RedisDeliveries = Deliveries &
  DeliveryLedger & {
    /** Removes every delivery of the job and its attempts (retention, after the job itself is gone). */
    forget(jobId: string): Promise<void>;
  };

/**
 * The delivery id (Standard Webhooks `webhook-id`) of a job's event: derived from both, so announcing the
 * same event again, from any process, finds the same delivery and receivers can drop duplicates.
 */
export function deliveryIdOf(jobId: string, event: WebhookEventType): string {
  return `msg_${createHash('sha256').update(`${jobId}\n${event}`).digest('base64url').slice(0, 27)}`;
}

const DELIVERY_ID = /^msg_[A-Za-z0-9_-]+$/;

// KEYS: index, delivery, attempts. ARGV: id, field, value, … Creates the delivery unless it exists;
// replies {status, attempts made}.
const createScript = `
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], unpack(ARGV, 2))
  redis.call('RPUSH', KEYS[1], ARGV[1])
end
return {redis.call('HGET', KEYS[2], 'status'), redis.call('LLEN', KEYS[3])}
`;

// KEYS: delivery, attempts. ARGV: attempt number, attempt JSON, status, updatedAt, nextAttemptAt or ''.
// Records only the next attempt of a pending delivery; replies 1 when recorded, else 0.
const recordScript = `
if redis.call('HGET', KEYS[1], 'status') ~= 'pending' then return 0 end
if redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[1]) - 1 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'updatedAt', ARGV[4])
if ARGV[5] == '' then
  redis.call('HDEL', KEYS[1], 'nextAttemptAt')
else
  redis.call('HSET', KEYS[1], 'nextAttemptAt', ARGV[5])
end
return 1
`;

// KEYS: delivery, attempts. ARGV: now. Makes the delivery pending with a fresh schedule starting at its
// next attempt; replies that attempt's number, or nil when there is no such delivery.
const reopenScript = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local next = redis.call('LLEN', KEYS[2]) + 1
redis.call('HSET', KEYS[1], 'status', 'pending', 'updatedAt', ARGV[1], 'nextAttemptAt', ARGV[1], 'scheduleFrom', next)
return next
`;

/**
 * Webhook deliveries on Redis. Layout under `prefix`, next to the job's own keys (one Cluster slot):
 * - `<prefix>:job:<id>:deliveries` — list of the job's delivery ids, oldest first;
 * - `<prefix>:job:<id>:delivery:<deliveryId>` — hash: id, jobId, event, url, status, timestamps,
 *   nextAttemptAt, scheduleFrom;
 * - `<prefix>:job:<id>:delivery:<deliveryId>:attempts` — list of attempts as JSON, in order.
 * Every change that must not race is one Lua script. Usable from any process (the API lists and retries;
 * workers announce and record attempts).
 */
export function makeRedisDeliveries(options: RedisDeliveriesOptions): RedisDeliveries {
  const { redis, prefix, queues } = options;
  const now = options.now ?? (() => new Date());
  const indexKey = (jobId: string): string => `${prefix}:job:${jobId}:deliveries`;
  const deliveryKey = (jobId: string, id: string): string => `${prefix}:job:${jobId}:delivery:${id}`;
  const attemptsKey = (jobId: string, id: string): string => `${deliveryKey(jobId, id)}:attempts`;

  async function get(jobId: string, deliveryId: string): Promise<DeliveryState | undefined> {
    if (!DELIVERY_ID.test(deliveryId)) return undefined;
    const replies = await redis
      .multi()
      .hgetall(deliveryKey(jobId, deliveryId))
      .lrange(attemptsKey(jobId, deliveryId), 0, -1)
      .exec();
    const [hashReply, attemptsReply] = replies ?? [];
    if (hashReply?.[0]) throw hashReply[0];
    if (attemptsReply?.[0]) throw attemptsReply[0];
    const hash = hashReply?.[1] as Record<string, string> | undefined;
    if (!hash || hash.id === undefined) return undefined;
    const { scheduleFrom, nextAttemptAt, ...fields } = hash;
    const record = deliveryRecordSchema.parse({
      ...fields,
      ...(nextAttemptAt === undefined ? {} : { nextAttemptAt }),
      attempts: (attemptsReply?.[1] as string[]).map((a) => deliveryAttemptSchema.parse(JSON.parse(a))),
    });
    return { ...record, scheduleFrom: Number(scheduleFrom ?? 1) };
  }

  /** The record as the API shows it: without the internal schedule bookkeeping. */
  const publicRecord = (state: DeliveryState): DeliveryRecord => deliveryRecordSchema.parse(state);

  return {
    async announce(record: JobRecord): Promise<void> {
      const event = webhookEventTypeOf(record.status);
      const webhook = record.spec.webhook;
      if (event === undefined || webhook === undefined) return;
      const id = deliveryIdOf(record.id, event);
      const at = now().toISOString();
      const fields: Record<string, string> = {
        id,
        jobId: record.id,
        event,
        url: webhook.url,
        status: 'pending' satisfies DeliveryStatus,
        createdAt: at,
        updatedAt: at,
        nextAttemptAt: at,
        scheduleFrom: '1',
      };
      const [status, made] = (await redis.eval(
        createScript,
        3,
        indexKey(record.id),
        deliveryKey(record.id, id),
        attemptsKey(record.id, id),
        id,
        ...Object.entries(fields).flat(),
      )) as [string, number];
      // Also when the delivery already existed but its first attempt never got queued (a crash in between).
      if (status === 'pending' && made === 0) {
        await queues.enqueueDelivery({ jobId: record.id, deliveryId: id, attempt: 1 }, 0);
      }
    },

    async forget(jobId: string): Promise<void> {
      const ids = await redis.lrange(indexKey(jobId), 0, -1);
      await redis.del(
        indexKey(jobId),
        ...ids.flatMap((id) => [deliveryKey(jobId, id), attemptsKey(jobId, id)]),
      );
    },

    async list(jobId: string): Promise<DeliveryRecord[]> {
      const ids = await redis.lrange(indexKey(jobId), 0, -1);
      const states = await Promise.all(ids.map((id) => get(jobId, id)));
      return states.filter((s): s is DeliveryState => s !== undefined).map(publicRecord);
    },

    async retry(jobId: string, deliveryId: string): Promise<DeliveryRecord | undefined> {
      if (!DELIVERY_ID.test(deliveryId)) return undefined;
      const next = (await redis.eval(
        reopenScript,
        2,
        deliveryKey(jobId, deliveryId),
        attemptsKey(jobId, deliveryId),
        now().toISOString(),
      )) as number | null;
      if (next === null) return undefined;
      await queues.enqueueDelivery({ jobId, deliveryId, attempt: next }, 0);
      const state = await get(jobId, deliveryId);
      return state && publicRecord(state);
    },

    get,

    async recordAttempt(jobId, deliveryId, attempt, next): Promise<boolean> {
      const recorded = await redis.eval(
        recordScript,
        2,
        deliveryKey(jobId, deliveryId),
        attemptsKey(jobId, deliveryId),
        attempt.attempt,
        JSON.stringify(deliveryAttemptSchema.parse(attempt)),
        next.status,
        now().toISOString(),
        next.nextAttemptAt ?? '',
      );
      return recorded === 1;
    },
  };
}
