import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiErrorSchema } from '../../../schemas/api.js';
import { auth, type ApiHarness, startApi } from './api-harness.js';

describe('the failed-authentication limit while Redis cannot count', () => {
  let unreachable: Redis;
  let h: ApiHarness;

  beforeEach(async () => {
    // The rate limits' Redis does not answer; the job store's does.
    unreachable = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    unreachable.on('error', () => undefined);
    h = await startApi({ authFailureLimit: 3 }, { redis: unreachable });
  });

  afterEach(async () => {
    await h.close();
    unreachable.disconnect();
  });

  it('fails closed: requests without a valid key get 503 NOT_READY, however many, never a 401 to retry', async () => {
    for (const headers of [
      {},
      { authorization: 'Bearer not-a-real-key-0123456' },
      { authorization: 'Basic dXNlcjpwYXNz' },
    ]) {
      for (let i = 0; i < 5; i++) {
        const response = await h.app.inject({ url: '/v1/jobs', remoteAddress: '203.0.113.7', headers });
        expect(response.statusCode).toBe(503);
        expect(apiErrorSchema.parse(response.json()).error.code).toBe('NOT_READY');
      }
    }
  });

  it('still serves valid keys: their tenant budget is skipped when it cannot be charged', async () => {
    const response = await h.app.inject({
      url: '/v1/jobs',
      remoteAddress: '203.0.113.7',
      headers: auth('acme'),
    });
    expect(response.statusCode).toBe(200);
  });
});
