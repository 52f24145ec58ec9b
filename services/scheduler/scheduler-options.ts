import { parseArgs } from 'node:util';
import { type RedisConfig, redisConfigFromEnv } from '../queue/redis-connection.js';
import { type Tenancy, loadTenancy } from '../tenancy/tenancy.js';
import { InvalidSchedulerConfig } from './errors/invalid-scheduler-config.js';

/** Options of `quiver scheduler`, compiled to what the process runs on. */
export interface SchedulerOptions {
  /**
   * Milliseconds a drain (first SIGTERM/SIGINT) may take to finish the ticks in hand before the process
   * exits 1; a tick cut short is delivered again and finds its day's job already there. Default 30 s.
   * `QUIVER_SHUTDOWN_GRACE_SECONDS`, `--grace-seconds`.
   */
  shutdownGraceMs: number;
  /** Ticks processed at once. Default 4: a tick is a few Redis calls. */
  concurrency: number;
  /**
   * How long the records of ended jobs (succeeded, failed, cancelled) are kept before the scheduler
   * removes them with their webhook deliveries; `undefined` keeps them forever. Default 30 days.
   * `QUIVER_JOB_RETENTION_DAYS` (a positive number, or `off`).
   */
  jobRetentionMs: number | undefined;
  /** How often the retention sweep runs (and once at start). Default 1 hour. */
  retentionSweepMs: number;
}

/** Everything a scheduler process needs from its configuration. */
export interface SchedulerConfig {
  scheduler: SchedulerOptions;
  redis: RedisConfig;
  /**
   * `QUIVER_TENANTS_FILE`: every job a schedule submits is checked against its tenant's grants. Undefined
   * without the file: the scheduler trusts the templates the API admitted.
   */
  tenancy?: Tenancy;
}

export const DAY_MS = 24 * 60 * 60 * 1000;

export const schedulerDefaults: SchedulerOptions = {
  shutdownGraceMs: 30_000,
  concurrency: 4,
  jobRetentionMs: 30 * DAY_MS,
  retentionSweepMs: 60 * 60 * 1000,
};

/** Digits with an optional fraction, above zero and finite; undefined for anything else. */
function positiveNumber(text: string): number | undefined {
  const value = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  return value > 0 && Number.isFinite(value) ? value : undefined;
}

const flags = {
  'grace-seconds': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * Reads `quiver scheduler` flags and the environment (`QUIVER_REDIS_URL`, `QUIVER_PREFIX`,
 * `QUIVER_SHUTDOWN_GRACE_SECONDS`, `QUIVER_JOB_RETENTION_DAYS`); a flag overrides its variable.
 *
 * @throws InvalidSchedulerConfig (or InvalidRedisConfig) naming the unusable variable or flag; a
 *   `TypeError` with code `ERR_PARSE_ARGS_*` for an unknown flag (a usage error).
 */
export function loadSchedulerConfig(args: readonly string[], env: NodeJS.ProcessEnv): SchedulerConfig {
  const { values } = parseArgs({ args: [...args], options: flags, allowPositionals: false });
  const scheduler = { ...schedulerDefaults };
  const flag = values['grace-seconds'];
  const text = (flag ?? env.QUIVER_SHUTDOWN_GRACE_SECONDS)?.trim();
  if (text !== undefined && text !== '') {
    const seconds = positiveNumber(text);
    if (seconds === undefined) {
      throw new InvalidSchedulerConfig(
        flag === undefined ? 'QUIVER_SHUTDOWN_GRACE_SECONDS' : '--grace-seconds',
        `expected a positive number of seconds, got ${JSON.stringify(text)}`,
      );
    }
    scheduler.shutdownGraceMs = Math.round(seconds * 1000);
  }
  const retention = env.QUIVER_JOB_RETENTION_DAYS?.trim();
  if (retention !== undefined && retention !== '') {
    if (retention.toLowerCase() === 'off') scheduler.jobRetentionMs = undefined;
    else {
      const days = positiveNumber(retention);
      if (days === undefined) {
        throw new InvalidSchedulerConfig(
          'QUIVER_JOB_RETENTION_DAYS',
          `expected a positive number of days or "off", got ${JSON.stringify(retention)}`,
        );
      }
      scheduler.jobRetentionMs = Math.round(days * DAY_MS);
    }
  }
  return {
    ...(env.QUIVER_TENANTS_FILE?.trim() ? { tenancy: loadTenancy(env) } : {}),
    scheduler,
    redis: redisConfigFromEnv(env),
  };
}
