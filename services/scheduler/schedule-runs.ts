import type { RedisClient } from '../queue/redis-connection.js';
import type { ScheduleRuns } from '../../jobs/ports/schedule-runs.js';
import { type ScheduleRunEntry, scheduleRunEntrySchema } from '../../schemas/schedule.js';
import { defineQuiverCommands } from '../queue/lua-commands.js';

/** Runs kept per schedule: past this many the oldest finished ones are forgotten. */
export const RUN_HISTORY_LIMIT = 10_000;

/**
 * Keys of one schedule's runs, under the deployment's prefix (hash-tagged, so one Cluster slot): `runs`, a
 * hash of logical time → run JSON; `history`, every run by its instant; `waiting`, the runs that wait for a
 * slot; `active`, the admitted or submitted runs not yet seen finished.
 */
export function scheduleRunKeys(prefix: string, tenant: string, name: string) {
  const base = `${prefix}:schedule-runs:${tenant}:${name}`;
  return { runs: base, history: `${base}:history`, waiting: `${base}:waiting`, active: `${base}:active` };
}

const entryOf = (json: string): ScheduleRunEntry => scheduleRunEntrySchema.parse(JSON.parse(json));

/** {@link ScheduleRuns} on Redis: every write one Lua script, so processes never race on a slot. */
export function makeRedisScheduleRuns(redis: RedisClient, prefix: string): ScheduleRuns {
  const lua = defineQuiverCommands(redis);
  const keys = (tenant: string, name: string) => scheduleRunKeys(prefix, tenant, name);
  const scheduleKey = (tenant: string, name: string): string => `${prefix}:schedule:${tenant}:${name}`;
  const entries = async (tenant: string, name: string, logicalTimes: readonly string[]) => {
    if (logicalTimes.length === 0) return [];
    const found = await redis.hmget(keys(tenant, name).runs, ...logicalTimes);
    return found.flatMap((json) => (json === null ? [] : [entryOf(json)]));
  };
  const mark = async (
    tenant: string,
    name: string,
    logicalTime: string,
    state: 'submitted' | 'refused',
    at: Date,
    error?: { code: string; message: string },
    jobId = '',
  ) => {
    const k = keys(tenant, name);
    await lua.run(
      'schedule-run-mark',
      [k.runs, k.active],
      [logicalTime, state, at.toISOString(), error === undefined ? '' : JSON.stringify(error), jobId],
    );
  };
  return {
    async add(tenant, name, runs) {
      if (runs.length === 0) return [];
      const k = keys(tenant, name);
      const args: (string | number)[] = [RUN_HISTORY_LIMIT];
      for (const run of runs) {
        args.push(
          run.logicalTime,
          new Date(run.at).getTime(),
          run.state === 'waiting' ? 'waiting' : 'active',
          JSON.stringify(run),
        );
      }
      return lua.run(
        'schedule-runs-add',
        [scheduleKey(tenant, name), k.runs, k.history, k.waiting, k.active],
        args,
      );
    },
    async admit(tenant, name, { maxActive, finished, now }) {
      const k = keys(tenant, name);
      const admitted = await lua.run(
        'schedule-runs-admit',
        [k.runs, k.waiting, k.active],
        [maxActive, now.toISOString(), ...finished],
      );
      return admitted.map(entryOf);
    },
    async active(tenant, name) {
      return entries(tenant, name, await redis.zrange(keys(tenant, name).active, '0', '-1'));
    },
    waitingCount: (tenant, name) => redis.zcard(keys(tenant, name).waiting),
    markSubmitted: (tenant, name, logicalTime, at, jobId) =>
      mark(tenant, name, logicalTime, 'submitted', at, undefined, jobId),
    refuse: (tenant, name, logicalTime, error) =>
      mark(tenant, name, logicalTime, 'refused', new Date(), error),
    async get(tenant, name, logicalTime) {
      return (await entries(tenant, name, [logicalTime]))[0];
    },
    async page(tenant, name, { limit, before }) {
      const k = keys(tenant, name);
      const max = before === undefined ? '+inf' : `(${before}`;
      const found = await redis.zrevrangebyscore(k.history, max, '-inf', 'WITHSCORES', 'LIMIT', 0, limit + 1);
      const members: string[] = [];
      const scores: number[] = [];
      for (let i = 0; i < found.length; i += 2) {
        members.push(found[i]!);
        scores.push(Number(found[i + 1]));
      }
      const more = members.length > limit;
      const shown = members.slice(0, limit);
      return {
        runs: await entries(tenant, name, shown),
        nextBefore: more ? scores[limit - 1]! : null,
      };
    },
    async latestAtOrBefore(tenant, name, at) {
      const k = keys(tenant, name);
      const [logical] = await redis.zrevrangebyscore(k.history, String(at.getTime()), '-inf', 'LIMIT', 0, 1);
      return logical === undefined ? undefined : (await entries(tenant, name, [logical]))[0];
    },
    async forget(tenant, name) {
      const k = keys(tenant, name);
      await redis.del(k.runs, k.history, k.waiting, k.active);
    },
  };
}
