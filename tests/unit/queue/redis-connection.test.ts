import { describe, expect, it } from 'vitest';
import { InvalidConfig } from '../../../schemas/errors/invalid-config.js';
import { makeRedis, redisConfigFromEnv } from '../../../services/queue/redis-connection.js';

describe('redisConfigFromEnv', () => {
  it('defaults to local Redis and the {quiver} prefix', () => {
    expect(redisConfigFromEnv({})).toEqual({ url: 'redis://127.0.0.1:6379', prefix: '{quiver}' });
    expect(redisConfigFromEnv({ QUIVER_REDIS_URL: ' ', QUIVER_PREFIX: '' })).toEqual({
      url: 'redis://127.0.0.1:6379',
      prefix: '{quiver}',
    });
  });

  it('reads both variables', () => {
    expect(
      redisConfigFromEnv({
        QUIVER_REDIS_URL: 'rediss://user:pw@redis.internal:6380/2',
        QUIVER_PREFIX: 'prod{q}',
      }),
    ).toEqual({ url: 'rediss://user:pw@redis.internal:6380/2', prefix: 'prod{q}' });
  });

  it.each(['quiver', '{}', 'quiver}', '{quiver'])(
    'refuses prefix %j without a hash tag, naming the variable',
    (p) => {
      expect(() => redisConfigFromEnv({ QUIVER_PREFIX: p })).toThrow(InvalidConfig);
      expect(() => redisConfigFromEnv({ QUIVER_PREFIX: p })).toThrow(/QUIVER_PREFIX/);
    },
  );

  it.each(['http://localhost:6379', 'localhost:6379', 'nonsense'])(
    'refuses URL %j, naming the variable',
    (url) => {
      try {
        redisConfigFromEnv({ QUIVER_REDIS_URL: url });
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidConfig);
        expect((error as InvalidConfig).variable).toBe('QUIVER_REDIS_URL');
      }
    },
  );
});

describe('makeRedis', () => {
  it('sets the options BullMQ workers need, and lets callers override others', () => {
    const redis = makeRedis('redis://127.0.0.1:6379', { lazyConnect: true, connectionName: 'test' });
    try {
      expect(redis.options.maxRetriesPerRequest).toBeNull();
      expect(redis.options.enableReadyCheck).toBe(true);
      expect(redis.options.connectionName).toBe('test');
    } finally {
      redis.disconnect();
    }
  });
});
