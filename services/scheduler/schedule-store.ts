import type { Redis } from 'ioredis';
import {
  type ScheduleDefinition,
  type ScheduleError,
  type ScheduleRecord,
  type ScheduleRun,
  scheduleRecordSchema,
} from '../../schemas/schedule.js';

/** Schedule records: definitions and their history. The BullMQ side lives in `ScheduleQueue`. */
export interface ScheduleStore {
  /** Creates the tenant's schedule `definition.name`, or replaces it (keeping `createdAt` and `lastRun`). */
  put(tenant: string, definition: ScheduleDefinition): Promise<{ record: ScheduleRecord; created: boolean }>;
  get(tenant: string, name: string): Promise<ScheduleRecord | undefined>;
  /** One tenant's schedules by name, or (no tenant) every tenant's, by tenant then name. */
  list(options?: { tenant?: string }): Promise<ScheduleRecord[]>;
  /** Removes the record; false when there was none. */
  delete(tenant: string, name: string): Promise<boolean>;
  /** Records a run and clears `lastError`; a schedule deleted meanwhile stays deleted (false). */
  recordRun(tenant: string, name: string, run: ScheduleRun): Promise<boolean>;
  /** Records why a run failed; a schedule deleted meanwhile stays deleted (false). */
  recordError(tenant: string, name: string, error: ScheduleError): Promise<boolean>;
}

// KEYS: schedule. ARGV: field, JSON, field to clear (or ''). Writes only to a schedule that still exists.
const recordScript = `
if redis.call('exists', KEYS[1]) == 0 then return 0 end
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] ~= '' then redis.call('hdel', KEYS[1], ARGV[3]) end
return 1
`;

/** Member of the index: `<tenant>/<name>`; neither may contain `/`, and `/` sorts before every name. */
const member = (tenant: string, name: string): string => `${tenant}/${name}`;

function recordOf(fields: Record<string, string>): ScheduleRecord | undefined {
  if (fields.definition === undefined) return undefined;
  return scheduleRecordSchema.parse({
    ...(JSON.parse(fields.definition) as object),
    tenant: fields.tenant,
    createdAt: fields.createdAt,
    updatedAt: fields.updatedAt,
    ...(fields.lastRun === undefined ? {} : { lastRun: JSON.parse(fields.lastRun) as unknown }),
    ...(fields.lastError === undefined ? {} : { lastError: JSON.parse(fields.lastError) as unknown }),
  });
}

/**
 * A `ScheduleStore` on Redis. Layout under `prefix` (hash-tagged, so one Cluster slot):
 * - `<prefix>:schedule:<tenant>:<name>` — hash: `definition` (JSON), `tenant`, `createdAt`, `updatedAt`,
 *   `lastRun` and `lastError` (JSON);
 * - `<prefix>:schedules` — every schedule as `<tenant>/<name>` in one sorted set read by lexical range, so a
 *   tenant's schedules are one range of it.
 */
export function makeRedisScheduleStore(
  redis: Redis,
  prefix: string,
  options: { now?: () => Date } = {},
): ScheduleStore {
  const now = options.now ?? (() => new Date());
  const scheduleKey = (tenant: string, name: string): string => `${prefix}:schedule:${tenant}:${name}`;
  const indexKey = `${prefix}:schedules`;
  const get = async (tenant: string, name: string) =>
    recordOf(await redis.hgetall(scheduleKey(tenant, name)));
  const record = (tenant: string, name: string, field: string, value: unknown, clear = '') =>
    redis
      .eval(recordScript, 1, scheduleKey(tenant, name), field, JSON.stringify(value), clear)
      .then((reply) => reply === 1);

  return {
    async put(tenant, definition) {
      const at = now().toISOString();
      const key = scheduleKey(tenant, definition.name);
      const replies = await redis
        .multi()
        .hsetnx(key, 'createdAt', at)
        .hset(key, 'tenant', tenant, 'definition', JSON.stringify(definition), 'updatedAt', at)
        // A new definition starts without the old one's error.
        .hdel(key, 'lastError')
        .zadd(indexKey, 0, member(tenant, definition.name))
        .exec();
      const failed = replies?.find(([error]) => error !== null)?.[0];
      if (replies === null || failed) throw failed ?? new Error('schedule write was aborted');
      const stored = await get(tenant, definition.name);
      if (stored === undefined) throw new Error(`schedule ${tenant}/${definition.name} vanished while saved`);
      return { record: stored, created: replies[0]?.[1] === 1 };
    },
    get,
    async list(options = {}) {
      const members =
        options.tenant === undefined
          ? await redis.zrange(indexKey, '0', '-1')
          : await redis.zrangebylex(indexKey, `[${options.tenant}/`, `(${options.tenant}0`);
      if (members.length === 0) return [];
      const pipeline = redis.pipeline();
      for (const m of members) {
        const slash = m.indexOf('/');
        pipeline.hgetall(scheduleKey(m.slice(0, slash), m.slice(slash + 1)));
      }
      const replies = (await pipeline.exec()) ?? [];
      return replies.flatMap(([error, fields]) => {
        if (error) throw error;
        const found = recordOf(fields as Record<string, string>);
        return found === undefined ? [] : [found];
      });
    },
    async delete(tenant, name) {
      const replies = await redis
        .multi()
        .del(scheduleKey(tenant, name))
        .zrem(indexKey, member(tenant, name))
        .exec();
      return replies?.[0]?.[1] === 1;
    },
    recordRun: (tenant, name, run) => record(tenant, name, 'lastRun', run, 'lastError'),
    recordError: (tenant, name, error) => record(tenant, name, 'lastError', error),
  };
}
