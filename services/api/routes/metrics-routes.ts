import type { Registry } from 'prom-client';
import type { ZodFastify } from '../api-context.js';

/** `/metrics`: public (scrapers carry no API key), never rate limited. */
export function registerMetricsRoutes(app: ZodFastify, registry: Registry): void {
  /** Prometheus metrics. */
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        description:
          'The process’s metrics in the Prometheus text format: queue depths by state, the oldest waiting ' +
          'job’s age, and the process’s own (CPU, memory, event-loop lag). Counts only: no job ids, no tenants.',
        tags: ['health'],
        security: [],
      },
    },
    async (_request, reply) => {
      const body = await registry.metrics();
      return reply.type(registry.contentType).send(body);
    },
  );
}
