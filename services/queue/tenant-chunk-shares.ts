import type { ChunkShares, ChunkSlot } from '../../jobs/ports/chunk-shares.js';
import type { Log } from '../../jobs/ports/log.js';
import { defineQuiverCommands } from './lua-commands.js';
import type { RedisClient } from './redis-connection.js';

export interface TenantChunkSharesOptions {
  redis: RedisClient;
  /** The deployment's hash-tagged prefix. */
  prefix: string;
  /** The tenant's share (`limits.maxRunningChunks`); `undefined`: none, and Redis is not asked. */
  shareOf: (tenant: string) => number | undefined;
  /**
   * How long a slot lasts without renewal (the worker's lock duration): a killed or frozen worker's slots
   * come back this long after its last renewal. Renewed every third of it while the attempt runs.
   */
  leaseMs: number;
  log: Log;
}

/** The slot of a tenant without a share: nothing to take or give back. */
const unlimited: ChunkSlot = { release: () => Promise.resolve() };

/**
 * Tenants' running-chunk shares in Redis: `<prefix>:tenant:<tenant>:running-chunks` is a sorted set of the
 * tenant's running chunk attempts (`<job>:<chunk>:<attempt>`) scored by lease expiry (Redis' clock). One
 * script drops ran-out leases and admits below the share, atomically for every worker process; a slot is
 * renewed on a timer and removed when its attempt ends.
 */
export function makeTenantChunkShares(options: TenantChunkSharesOptions): ChunkShares {
  const { redis, prefix, shareOf, leaseMs, log } = options;
  const lua = defineQuiverCommands(redis);
  const runningKey = (tenant: string): string => `${prefix}:tenant:${tenant}:running-chunks`;
  return {
    async take(tenant, jobId, index, attempt) {
      const share = shareOf(tenant);
      if (share === undefined) return unlimited;
      const key = runningKey(tenant);
      const member = `${jobId}:${index}:${attempt}`;
      if ((await lua.run('tenant-chunk-take', [key], [member, share, leaseMs])) === 0) return undefined;
      let renewing: Promise<unknown> = Promise.resolve();
      const renew = (): void => {
        renewing = lua.run('tenant-chunk-renew', [key], [member, leaseMs]).then(
          (held) => {
            if (held === 0)
              log.warn({ tenant, jobId, chunk: index, attempt }, 'chunk slot had expired; taken again');
          },
          // Redis unreachable: the next renewal tries again; the lease outlives a few missed ones.
          () => undefined,
        );
      };
      const timer = setInterval(renew, Math.max(1, Math.floor(leaseMs / 3)));
      let released: Promise<void> | undefined;
      return {
        release() {
          released ??= (async () => {
            clearInterval(timer);
            // A renewal landing after the removal would write the slot back until its lease ran out.
            await renewing;
            await redis.zrem(key, member).catch((error: unknown) => {
              log.warn({ err: error, tenant, jobId, chunk: index }, 'chunk slot not given back; it expires');
            });
          })();
          return released;
        },
      };
    },
  };
}
