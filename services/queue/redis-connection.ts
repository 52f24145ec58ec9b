import { Redis, type RedisOptions, ReplyError } from 'ioredis';
import { readConfig } from '../../schemas/config.js';
import { StoreFull } from '../../jobs/ports/errors/store-full.js';
import type { Log } from '../../jobs/ports/log.js';

export interface RedisConfig {
  /** `redis://` or `rediss://` URL. Default `redis://127.0.0.1:6379` (`QUIVER_REDIS_URL`). */
  url: string;
  /**
   * Prefix of every key and queue of the deployment. Default `{quiver}` (`QUIVER_PREFIX`). It must hold a
   * `{…}` hash tag so all keys land in one Redis Cluster slot: Lua scripts and BullMQ's multi-key commands
   * need that.
   */
  prefix: string;
}

/**
 * Reads `QUIVER_REDIS_URL` and `QUIVER_PREFIX` through the config table; throws `InvalidConfig` naming the
 * variable.
 */
export function redisConfigFromEnv(env: NodeJS.ProcessEnv = process.env): RedisConfig {
  const { QUIVER_REDIS_URL: url, QUIVER_PREFIX: prefix } = readConfig(env, [
    'QUIVER_REDIS_URL',
    'QUIVER_PREFIX',
  ]);
  return { url, prefix };
}

/**
 * An ioredis client for `url`. `maxRetriesPerRequest: null` makes commands wait out a reconnect instead of
 * failing after a few retries, which BullMQ requires of worker connections; the ready check holds commands
 * until Redis has finished loading its AOF. `options` override anything here.
 */
export function makeRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, ...options });
}

/**
 * A Redis client for a long-running process whose connection errors are logged once per distinct error:
 * ioredis repeats the same error on every reconnect attempt while Redis is away.
 */
export function makeLoggedRedis(url: string, log: Pick<Log, 'error'>): Redis {
  const redis = makeRedis(url);
  let last: string | undefined;
  redis.on('error', (error: Error) => {
    if (error.message !== last) log.error({ err: error }, 'redis error');
    last = error.message;
  });
  redis.on('ready', () => (last = undefined));
  return redis;
}

/**
 * The code a Redis error reply starts with (`OOM`, `WRONGTYPE`, `NOSCRIPT`, `EXECABORT`…): RESP defines the
 * first word of an error reply as its kind. Undefined for anything that is not an error reply from Redis
 * (a connection error, a timeout, our own errors).
 */
export function redisReplyCode(error: unknown): string | undefined {
  if (!(error instanceof (ReplyError as new () => Error))) return undefined;
  return /^[A-Z]+(?=\s|$)/.exec(error.message)?.[0];
}

/**
 * `StoreFull` for Redis's `OOM` reply (Redis at `maxmemory` under `noeviction`), also when it aborted a
 * MULTI (`EXECABORT` with the `OOM` among its queued commands' errors); undefined for any other error.
 */
export function storeFullOf(error: unknown): StoreFull | undefined {
  if (error instanceof StoreFull) return error;
  const code = redisReplyCode(error);
  if (code === 'OOM') return new StoreFull({ cause: error });
  const previous = (error as { previousErrors?: unknown }).previousErrors;
  if (code === 'EXECABORT' && Array.isArray(previous) && previous.some((e) => redisReplyCode(e) === 'OOM'))
    return new StoreFull({ cause: error });
  return undefined;
}
