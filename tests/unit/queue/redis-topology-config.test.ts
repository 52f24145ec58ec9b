import { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { InvalidConfig } from '../../../schemas/errors/invalid-config.js';
import { makeRedisClient, redisConfigFromEnv } from '../../../services/queue/redis-connection.js';

describe('Redis topology settings', () => {
  it('reads a Cluster’s nodes and a Sentinel set, IPv6 included; one node by default', () => {
    expect(redisConfigFromEnv({})).toEqual({ url: 'redis://127.0.0.1:6379', prefix: '{quiver}' });
    expect(redisConfigFromEnv({ QUIVER_REDIS_CLUSTER_NODES: 'r1:7000, r2:7001,[::1]:7002' }).cluster).toEqual(
      [
        { host: 'r1', port: 7000 },
        { host: 'r2', port: 7001 },
        { host: '::1', port: 7002 },
      ],
    );
    expect(
      redisConfigFromEnv({ QUIVER_REDIS_SENTINELS: 's1:26379', QUIVER_REDIS_SENTINEL_NAME: 'q' }).sentinel,
    ).toEqual({
      sentinels: [{ host: 's1', port: 26379 }],
      name: 'q',
    });
  });

  it('refuses a malformed list and both topologies at once, naming the variable', () => {
    for (const bad of ['r1', 'r1:', 'r1:0', 'r1:70000', 'r1:7000,', ':7000']) {
      const thrown = (() => {
        try {
          redisConfigFromEnv({ QUIVER_REDIS_CLUSTER_NODES: bad });
        } catch (error) {
          return error;
        }
      })();
      expect(thrown, bad).toBeInstanceOf(InvalidConfig);
      expect(String(thrown)).toContain('QUIVER_REDIS_CLUSTER_NODES');
    }
    expect(() =>
      redisConfigFromEnv({ QUIVER_REDIS_CLUSTER_NODES: 'r1:7000', QUIVER_REDIS_SENTINELS: 's1:26379' }),
    ).toThrow(/QUIVER_REDIS_SENTINELS/);
  });

  it('gives every Cluster node and the Sentinels’ master the URL’s credentials, database and TLS', () => {
    const url = 'rediss://app:s%40cret@ignored:1/2';
    const cluster = makeRedisClient(
      { url, cluster: [{ host: '127.0.0.1', port: 1 }] },
      { lazyConnect: true },
    );
    expect(cluster).toBeInstanceOf(Cluster);
    expect((cluster as Cluster).options.redisOptions).toMatchObject({
      username: 'app',
      password: 's@cret',
      db: 2,
      tls: {},
      maxRetriesPerRequest: null,
    });
    const sentinel = makeRedisClient(
      { url, sentinel: { sentinels: [{ host: '127.0.0.1', port: 1 }], name: 'q' } },
      { lazyConnect: true },
    );
    expect(sentinel).toBeInstanceOf(Redis);
    expect((sentinel as Redis).options).toMatchObject({
      name: 'q',
      username: 'app',
      password: 's@cret',
      enableTLSForSentinelMode: true,
      maxRetriesPerRequest: null,
    });
    cluster.disconnect();
    sentinel.disconnect();
  });
});
