import { queueDepthsSchema } from '../../../schemas/api.js';
import { type ApiContext, type ZodFastify, principalOf } from '../api-context.js';
import { AdminRequired } from '../errors/admin-required.js';
import { errorResponses, v1Errors } from './route-schemas.js';

/** `GET /v1/queues`: queue depths for operators and autoscalers (infra/k8s/autoscaling.yaml). */
export function registerQueueRoutes(app: ZodFastify, context: ApiContext): void {
  /** Queue depths. */
  app.get(
    '/queues',
    {
      schema: {
        summary: 'Queue depths (admin)',
        description:
          'Jobs in each queue by state; `score.backlog` (waiting, prioritized included, + delayed + active) ' +
          'is the work the scoring pool has or will have, which worker ' +
          'autoscaling follows. Needs an admin key (403 `ADMIN_REQUIRED` otherwise).',
        tags: ['operations'],
        response: { 200: queueDepthsSchema, ...errorResponses(...v1Errors, 403) },
      },
    },
    async (request) => {
      if (!principalOf(request).admin) throw new AdminRequired('GET /v1/queues');
      return context.deps.queues.depths();
    },
  );
}
