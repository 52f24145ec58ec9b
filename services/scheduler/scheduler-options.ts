import { parseArgs } from 'node:util';
import { configTable, readConfig } from '../../schemas/config.js';
import { type RedisConfig, redisConfigFromEnv } from '../queue/redis-connection.js';
import { type Tenancy, loadTenancy } from '../tenancy/tenancy.js';

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
  /**
   * How often every schedule is brought up to now (and once at start): missed ticks caught up, ended runs
   * let waiting ones start, runs a crashed process admitted given their jobs. Default 5 s.
   */
  sweepMs: number;
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

const grace = configTable.QUIVER_SHUTDOWN_GRACE_SECONDS.defaultByProcess.scheduler;
const retentionDays = configTable.QUIVER_JOB_RETENTION_DAYS.default;

export const schedulerDefaults: SchedulerOptions = {
  shutdownGraceMs: grace * 1000,
  concurrency: 4,
  jobRetentionMs: retentionDays * DAY_MS,
  retentionSweepMs: 60 * 60 * 1000,
  sweepMs: 5_000,
};

const flags = {
  'grace-seconds': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * Reads `quiver scheduler` flags and the environment (`QUIVER_REDIS_URL`, `QUIVER_PREFIX`,
 * `QUIVER_SHUTDOWN_GRACE_SECONDS`, `QUIVER_JOB_RETENTION_DAYS`) through the config table; a flag overrides
 * its variable.
 *
 * @throws InvalidConfig naming the unusable variable or flag; a `TypeError` with code `ERR_PARSE_ARGS_*`
 *   for an unknown flag (a usage error).
 */
export function loadSchedulerConfig(args: readonly string[], env: NodeJS.ProcessEnv): SchedulerConfig {
  const { values } = parseArgs({ args: [...args], options: flags, allowPositionals: false });
  const config = readConfig(
    env,
    ['QUIVER_SHUTDOWN_GRACE_SECONDS', 'QUIVER_JOB_RETENTION_DAYS', 'QUIVER_TENANTS_FILE'],
    {
      process: 'scheduler',
      flags: { QUIVER_SHUTDOWN_GRACE_SECONDS: { flag: '--grace-seconds', text: values['grace-seconds'] } },
    },
  );
  const retention = config.QUIVER_JOB_RETENTION_DAYS;
  const scheduler: SchedulerOptions = {
    ...schedulerDefaults,
    shutdownGraceMs: Math.round(config.QUIVER_SHUTDOWN_GRACE_SECONDS * 1000),
    jobRetentionMs: retention === 'off' ? undefined : Math.round(retention * DAY_MS),
  };
  return {
    ...(config.QUIVER_TENANTS_FILE === undefined ? {} : { tenancy: loadTenancy(env) }),
    scheduler,
    redis: redisConfigFromEnv(env),
  };
}
