import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { DeliveryRecord } from '../../../schemas/delivery.js';
import { parseJobSpec, type JobSpecInput } from '../../../schemas/job-spec.js';
import { parseApiKeys } from '../../../services/api/api-keys.js';
import { makeApi, type ApiDeps, type MakeApiOptions } from '../../../services/api/make-api.js';
import { makeRedisJobStore } from '../../../services/queue/job-store.js';
import type { JobStore } from '../../../jobs/ports/job-store.js';
import { makeQueues } from '../../../services/queue/queues.js';
import { makeRedis, redisConfigFromEnv } from '../../../services/queue/redis-connection.js';
import { makeScheduleQueue, type ScheduleQueue } from '../../../services/scheduler/schedule-queue.js';
import { makeRedisScheduleRuns } from '../../../services/scheduler/schedule-runs.js';
import { makeRedisScheduleStore } from '../../../services/scheduler/schedule-store.js';
import { makeSchedules, type Schedules } from '../../../services/scheduler/schedules.js';

/** API keys of the tests: two tenants and an operator with the admin scope. */
export const keys = {
  acme: 'acme-key-0123456789abcdef',
  globex: 'globex-key-0123456789abcdef',
  ops: 'ops-key-0123456789abcdef01',
} as const;
export const apiKeys = parseApiKeys(
  `acme:${keys.acme},globex:${keys.globex},ops:${keys.ops}:admin`,
  'QUIVER_API_KEYS',
);

export const auth = (tenant: keyof typeof keys): Record<string, string> => ({
  authorization: `Bearer ${keys[tenant]}`,
});

export const specInput: JobSpecInput = {
  name: 'nightly-fraud',
  input: { uri: 's3://events/dt=2026-11-27/', format: 'parquet' },
  model: { uri: 's3://models/fraud/v3.onnx', inputs: { features: { columns: ['f0', 'f1'] } } },
  output: { uri: 's3://scores/fraud/', passthrough: ['event_id'] },
  webhook: { url: 'https://example.com/hooks/quiver', secret: 'whsec_c2VjcmV0' },
  labels: { team: 'risk' },
};
export const spec = parseJobSpec(specInput);

/** Deliveries kept in memory: what the API reads and retries. */
export function fakeDeliveries(): ApiDeps['deliveries'] & { records: DeliveryRecord[]; retried: string[] } {
  const records: DeliveryRecord[] = [];
  const retried: string[] = [];
  return {
    records,
    retried,
    list: (jobId) => Promise.resolve(records.filter((d) => d.jobId === jobId)),
    retry: (jobId, deliveryId) => {
      const found = records.find((d) => d.jobId === jobId && d.id === deliveryId);
      if (found) retried.push(deliveryId);
      return Promise.resolve(found);
    },
  };
}

export interface ApiHarness {
  app: FastifyInstance;
  redis: Redis;
  prefix: string;
  store: JobStore;
  deliveries: ReturnType<typeof fakeDeliveries>;
  /** Schedules on the same Redis and prefix, with real BullMQ job schedulers on `scheduleQueue`. */
  schedules: Schedules;
  scheduleQueue: ScheduleQueue;
  /** Queue calls the API made. */
  queued: { plans: string[]; finalizes: string[]; removed: string[] };
  /** Another API process on the same Redis and prefix (shares the store and the rate limits). */
  another(options?: MakeApiOptions): Promise<FastifyInstance>;
  close(): Promise<void>;
}

/** Every key under `prefix`. */
export async function keysOf(redis: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    found.push(...batch);
  } while (cursor !== '0');
  return found;
}

/**
 * An API on real Redis under a fresh `{test-…}` prefix, with recorded queue calls and in-memory deliveries.
 * `close()` closes every app made here and deletes the prefix's keys.
 */
export async function startApi(
  options: MakeApiOptions = {},
  overrides: Partial<ApiDeps> = {},
): Promise<ApiHarness> {
  const redis = makeRedis(redisConfigFromEnv().url);
  const prefix = `{test-${randomBytes(6).toString('hex')}}`;
  const store = makeRedisJobStore(redis, prefix);
  const realQueues = makeQueues(redis, prefix);
  const deliveries = fakeDeliveries();
  const scheduleQueue = makeScheduleQueue(redis, prefix);
  const schedules = makeSchedules(
    makeRedisScheduleStore(redis, prefix),
    scheduleQueue,
    makeRedisScheduleRuns(redis, prefix),
  );
  const queued = { plans: [] as string[], finalizes: [] as string[], removed: [] as string[] };
  const deps: ApiDeps = {
    store,
    queues: {
      enqueuePlan: (id) => Promise.resolve(void queued.plans.push(id)),
      enqueueFinalize: (id) => Promise.resolve(void queued.finalizes.push(id)),
      removeQueuedChunks: (id) => Promise.resolve(queued.removed.push(id) && 0),
      // Depths come from real BullMQ queues under the test's prefix.
      depths: () => realQueues.depths(),
    },
    storage: { read: () => Promise.reject(new Error('no storage in this test')) },
    deliveries,
    redis,
    prefix,
    keys: apiKeys,
    schedules,
    ...overrides,
  };
  const apps: FastifyInstance[] = [];
  const make = async (o: MakeApiOptions): Promise<FastifyInstance> => {
    const app = await makeApi(deps, o);
    apps.push(app);
    await app.ready();
    return app;
  };
  const app = await make(options);
  return {
    app,
    redis,
    prefix,
    store,
    deliveries,
    schedules,
    scheduleQueue,
    queued,
    another: (o = options) => make(o),
    async close() {
      await Promise.allSettled(apps.map((a) => a.close()));
      await Promise.allSettled([realQueues.close(), scheduleQueue.close()]);
      const found = await keysOf(redis, prefix);
      if (found.length > 0) await redis.del(...found);
      await redis.quit();
    },
  };
}
