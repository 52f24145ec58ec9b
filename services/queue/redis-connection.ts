import { Cluster, Redis, type RedisOptions, ReplyError } from 'ioredis';
import { readConfig } from '../../schemas/config.js';
import { StoreFull } from '../../jobs/ports/errors/store-full.js';
import { InvalidConfig } from '../../schemas/errors/invalid-config.js';
import type { Log } from '../../jobs/ports/log.js';

/** Any Redis Quiver talks to: one node (or Sentinel's master), or a Cluster. */
export type RedisClient = Redis | Cluster;

export interface HostPort {
  host: string;
  port: number;
}

export interface RedisConfig {
  /**
   * `redis://` or `rediss://` URL. Default `redis://127.0.0.1:6379` (`QUIVER_REDIS_URL`). With `cluster` or
   * `sentinel`, only its credentials and TLS (`rediss:`) are used.
   */
  url: string;
  /** A Redis Cluster: some of its nodes (`QUIVER_REDIS_CLUSTER_NODES`); the rest are discovered. */
  cluster?: HostPort[];
  /** Sentinels and the master name they watch (`QUIVER_REDIS_SENTINELS`, `QUIVER_REDIS_SENTINEL_NAME`). */
  sentinel?: { sentinels: HostPort[]; name: string };
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
  const config = readConfig(env, [
    'QUIVER_REDIS_URL',
    'QUIVER_PREFIX',
    'QUIVER_REDIS_CLUSTER_NODES',
    'QUIVER_REDIS_SENTINELS',
    'QUIVER_REDIS_SENTINEL_NAME',
  ]);
  const cluster = config.QUIVER_REDIS_CLUSTER_NODES?.map(hostPortOf);
  const sentinels = config.QUIVER_REDIS_SENTINELS?.map(hostPortOf);
  if (cluster && sentinels)
    throw new InvalidConfig(
      'QUIVER_REDIS_SENTINELS',
      'set either QUIVER_REDIS_CLUSTER_NODES or QUIVER_REDIS_SENTINELS, not both',
    );
  return {
    url: config.QUIVER_REDIS_URL,
    prefix: config.QUIVER_PREFIX,
    ...(cluster ? { cluster } : {}),
    ...(sentinels ? { sentinel: { sentinels, name: config.QUIVER_REDIS_SENTINEL_NAME } } : {}),
  };
}

/** `host:port` (validated by the config table; `[::1]:6379` for IPv6) as ioredis takes a node. */
function hostPortOf(node: string): HostPort {
  const colon = node.lastIndexOf(':');
  return { host: node.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(node.slice(colon + 1)) };
}

/** What `url` says about every node: its credentials, database and TLS (`rediss:`). */
function nodeOptionsOf(url: string): RedisOptions {
  const parsed = new URL(url);
  const db = Number(parsed.pathname.replace(/^\//, '') || '0');
  return {
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/**
 * The client `config` names: a Cluster (commands follow the slot's master through failovers and
 * resharding; every key of the deployment shares the prefix's hash tag, so one slot, one master), a
 * Sentinel-watched master (reconnects to whichever node the Sentinels promote), or one node. With the same
 * settings BullMQ needs everywhere: commands wait out a reconnect (`maxRetriesPerRequest: null`) and the
 * ready check holds them until a node has loaded its data. `options` override them (the API fails commands
 * fast instead).
 */
export function makeRedisClient(
  config: Pick<RedisConfig, 'url' | 'cluster' | 'sentinel'>,
  options: RedisOptions = {},
): RedisClient {
  const node: RedisOptions = {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    ...nodeOptionsOf(config.url),
    ...options,
  };
  if (config.cluster) {
    return new Cluster(config.cluster, {
      redisOptions: node,
      enableReadyCheck: true,
      // A failover takes the cluster's node timeout; commands wait for the new master instead of failing.
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 500,
      retryDelayOnTryAgain: 200,
      maxRedirections: 32,
    });
  }
  if (config.sentinel) {
    const { username, password, tls, ...rest } = node;
    return new Redis({
      ...rest,
      sentinels: config.sentinel.sentinels,
      name: config.sentinel.name,
      ...(username ? { username } : {}),
      ...(password ? { password } : {}),
      ...(tls ? { tls, enableTLSForSentinelMode: true } : {}),
      // A promoted replica is found by asking the Sentinels again on every reconnect.
      failoverDetector: true,
    });
  }
  return makeRedis(config.url, options);
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
export function makeLoggedRedis(
  config: string | Pick<RedisConfig, 'url' | 'cluster' | 'sentinel'>,
  log: Pick<Log, 'error'>,
): RedisClient {
  const redis = makeRedisClient(typeof config === 'string' ? { url: config } : config);
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

/** Another connection like `client` (a subscriber, a blocking reader): to the same node, Cluster or master. */
export function duplicateClient(client: RedisClient): RedisClient {
  return client instanceof Cluster ? client.duplicate() : client.duplicate();
}
