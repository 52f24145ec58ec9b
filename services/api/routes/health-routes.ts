import { healthSchema } from '../../../schemas/api.js';
import type { ApiContext, ZodFastify } from '../api-context.js';
import { NotReady } from '../errors/not-ready.js';
import { errorResponses } from './route-schemas.js';

/** How long `/readyz` waits for Redis to answer. */
const READY_TIMEOUT_MS = 1_000;

/** `/healthz` and `/readyz`: public (no key), never rate limited. */
export function registerHealthRoutes(app: ZodFastify, context: ApiContext): void {
  /** Liveness. */
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness',
        description: 'Answers 200 while the process serves HTTP; no dependency is checked.',
        tags: ['health'],
        security: [],
        response: { 200: healthSchema },
      },
    },
    () => ({ status: 'ok' as const }),
  );

  /** Readiness. */
  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness',
        description: 'Answers 200 when Redis answers a PING within a second, else 503 `NOT_READY`.',
        tags: ['health'],
        security: [],
        response: { 200: healthSchema, ...errorResponses(503) },
      },
    },
    async () => {
      if (context.closing.aborted) throw new NotReady('shutting down');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new NotReady('Redis did not answer in time')), READY_TIMEOUT_MS);
      });
      try {
        await Promise.race([context.deps.redis.ping(), timeout]);
      } catch (error) {
        throw error instanceof NotReady
          ? error
          : new NotReady(`Redis: ${error instanceof Error ? error.message : String(error)}`);
      } finally {
        clearTimeout(timer);
      }
      return { status: 'ready' as const };
    },
  );
}
