import type { FastifyInstance, onRequestAsyncHookHandler } from 'fastify';
import { type ApiKeys, bearerToken } from './api-keys.js';
import { NotReady } from './errors/not-ready.js';
import { RateLimited } from './errors/rate-limited.js';
import { Unauthenticated } from './errors/unauthenticated.js';

/**
 * The `/v1` gate, run first on every request: the Bearer key must be configured (else 401, before any body
 * is read), its principal is set on the request, and the tenant's request budget (shared by every API
 * process through Redis) is charged (429 `RATE_LIMITED` with `Retry-After` once spent). Requests without
 * a valid key are counted per client address, and past `failures.max` in a window they get 429 instead of
 * 401; while that count cannot be kept (Redis errors) they get 503 `NOT_READY`, so keys cannot be guessed
 * unchecked during an outage. Valid keys are not held up by Redis trouble: their tenant's budget is skipped
 * when it cannot be charged. Needs `@fastify/rate-limit` registered on `app`.
 */
export function makeAuthenticate(
  app: FastifyInstance,
  keys: ApiKeys,
  failures: { max: number; windowMs: number },
): onRequestAsyncHookHandler {
  const charge = app.createRateLimit({ keyGenerator: (request) => request.principal?.tenant ?? '' });
  const chargeFailure = app.createRateLimit({
    keyGenerator: (request) => `auth-failures:${request.ip}`,
    max: failures.max,
    timeWindow: failures.windowMs,
    // Fails closed: an uncounted failure must not pass as a 401 that can be repeated without limit.
    skipOnError: false,
  });
  return async (request, reply) => {
    const header = request.headers.authorization;
    const token = bearerToken(header);
    const principal = token === undefined ? undefined : keys.authenticate(token);
    if (principal === undefined) {
      // Only failures are counted, per client address: guessing keys slows down, valid keys never wait.
      const failed = await chargeFailure(request).catch((error: unknown) => {
        throw new NotReady('the failed-authentication limit cannot be counted (Redis)', { cause: error });
      });
      if (!failed.isAllowed && failed.isExceeded) {
        throw new RateLimited(`client ${request.ip} (no valid API key)`, Math.max(1, failed.ttlInSeconds));
      }
      throw new Unauthenticated(header !== undefined);
    }
    request.principal = principal;
    const limit = await charge(request);
    if (limit.isAllowed) return;
    void reply.headers({
      'x-ratelimit-limit': String(limit.max),
      'x-ratelimit-remaining': String(Math.max(0, limit.remaining)),
      'x-ratelimit-reset': String(limit.ttlInSeconds),
    });
    if (limit.isExceeded)
      throw new RateLimited(`tenant ${principal.tenant}`, Math.max(1, limit.ttlInSeconds));
  };
}
