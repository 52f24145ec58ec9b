import type { RedisClient } from '../queue/redis-connection.js';
import type { ScheduleStore } from '../../jobs/ports/schedule-store.js';
import { type ScheduleRecord, scheduleRecordSchema } from '../../schemas/schedule.js';
import { defineQuiverCommands } from '../queue/lua-commands.js';
import { scheduleRunKeys } from './schedule-runs.js';
import { type Clock, systemClock } from '../../jobs/ports/clock.js';

/** Member of the index: `<tenant>/<name>`; neither may contain `/`, and `/` sorts before every name. */
const member = (tenant: string, name: string): string => `${tenant}/${name}`;

function recordOf(fields: Record<string, string>): ScheduleRecord | undefined {
  if (fields.definition === undefined) return undefined;
  const definition = JSON.parse(fields.definition) as { enabled?: boolean; paused?: boolean };
  return scheduleRecordSchema.parse({
    ...definition,
    // Definitions stored before `paused` carry only `enabled`.
    paused: definition.paused ?? definition.enabled === false,
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
 * - its runs under `<prefix>:schedule-runs:<tenant>:<name>…` (services/scheduler/schedule-runs.ts), removed
 *   with it;
 * - `<prefix>:schedules` — every schedule as `<tenant>/<name>` in one sorted set read by lexical range, so a
 *   tenant's schedules are one range of it.
 */
export function makeRedisScheduleStore(
  redis: RedisClient,
  prefix: string,
  options: { now?: Clock } = {},
): ScheduleStore {
  const now = options.now ?? systemClock;
  const scheduleKey = (tenant: string, name: string): string => `${prefix}:schedule:${tenant}:${name}`;
  const indexKey = `${prefix}:schedules`;
  const lua = defineQuiverCommands(redis);
  const get = async (tenant: string, name: string) =>
    recordOf(await redis.hgetall(scheduleKey(tenant, name)));
  const record = async (tenant: string, name: string, field: string, value: unknown, clear = '') =>
    (await lua.run('schedule-record', [scheduleKey(tenant, name)], [field, JSON.stringify(value), clear])) ===
    1;

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
      const runs = scheduleRunKeys(prefix, tenant, name);
      const replies = await redis
        .multi()
        .del(scheduleKey(tenant, name))
        .del(runs.runs, runs.history, runs.waiting, runs.active)
        .zrem(indexKey, member(tenant, name))
        .exec();
      return replies?.[0]?.[1] === 1;
    },
    recordRun: (tenant, name, run) => record(tenant, name, 'lastRun', run, 'lastError'),
    recordError: (tenant, name, error) => record(tenant, name, 'lastError', error),
  };
}
