import { createHash } from 'node:crypto';
import type { RedisClient } from '../queue/redis-connection.js';
import type { DeliveryLedger, DeliveryState } from '../../jobs/ports/delivery-ledger.js';
import {
  deliveryAttemptSchema,
  deliveryRecordSchema,
  type DeliveryRecord,
  type DeliveryStatus,
} from '../../schemas/delivery.js';
import type { JobRecord } from '../../schemas/job-record.js';
import { webhookEventTypeOf, type WebhookEventType } from '../../schemas/webhook-event.js';
import { defineQuiverCommands } from '../queue/lua-commands.js';
import type { PipelineQueues } from '../queue/queues.js';
import type { Deliveries } from './deliveries.js';
import { type Clock, systemClock } from '../../jobs/ports/clock.js';

export interface RedisDeliveriesOptions {
  redis: RedisClient;
  /** The deployment's hash-tagged prefix (`{quiver}`), the same as the job store's. */
  prefix: string;
  /** Where attempts are queued: the deployment's queues from `makeQueues`. */
  queues: Pick<PipelineQueues, 'enqueueDelivery'>;
  /** Clock for timestamps. Default `() => new Date()`. */
  now?: Clock;
}

/** Deliveries for the API and the pipeline, and the ledger the `deliver` processor records attempts in. */
export type RedisDeliveries = Deliveries &
  DeliveryLedger & {
    /** Removes every delivery of the job and its attempts (retention, after the job itself is gone). */
    forget(jobId: string): Promise<void>;
  };

/**
 * The delivery id (Standard Webhooks `webhook-id`) of a job's event: derived from both, so announcing the
 * same event again, from any process, finds the same delivery and receivers can drop duplicates. A retried
 * job's later attempts (`attempt` 2, 3, …) each announce their own end, under ids of their own; the first
 * attempt's id is the one it always had.
 */
export function deliveryIdOf(jobId: string, event: WebhookEventType, attempt = 1): string {
  const key = attempt === 1 ? `${jobId}\n${event}` : `${jobId}\n${event}\n${attempt}`;
  return `msg_${createHash('sha256').update(key).digest('base64url').slice(0, 27)}`;
}

const DELIVERY_ID = /^msg_[A-Za-z0-9_-]+$/;

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
  const now = options.now ?? systemClock;
  const indexKey = (jobId: string): string => `${prefix}:job:${jobId}:deliveries`;
  const deliveryKey = (jobId: string, id: string): string => `${prefix}:job:${jobId}:delivery:${id}`;
  const attemptsKey = (jobId: string, id: string): string => `${deliveryKey(jobId, id)}:attempts`;
  const lua = defineQuiverCommands(redis);

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
      const id = deliveryIdOf(record.id, event, record.attempts ?? 1);
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
      const [status, made] = await lua.run(
        'delivery-create',
        [indexKey(record.id), deliveryKey(record.id, id), attemptsKey(record.id, id)],
        [id, ...Object.entries(fields).flat()],
      );
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
      const next = await lua.run(
        'delivery-reopen',
        [deliveryKey(jobId, deliveryId), attemptsKey(jobId, deliveryId)],
        [now().toISOString()],
      );
      if (next === null) return undefined;
      await queues.enqueueDelivery({ jobId, deliveryId, attempt: next }, 0);
      const state = await get(jobId, deliveryId);
      return state && publicRecord(state);
    },

    get,

    async recordAttempt(jobId, deliveryId, attempt, next): Promise<boolean> {
      const recorded = await lua.run(
        'delivery-record-attempt',
        [deliveryKey(jobId, deliveryId), attemptsKey(jobId, deliveryId)],
        [
          attempt.attempt,
          JSON.stringify(deliveryAttemptSchema.parse(attempt)),
          next.status,
          now().toISOString(),
          next.nextAttemptAt ?? '',
        ],
      );
      return recorded === 1;
    },
  };
}
