import { z } from 'zod';
import { deliveryListSchema } from '../../../schemas/api.js';
import { deliveryRecordSchema } from '../../../schemas/delivery.js';
import { type ApiContext, type ZodFastify, principalOf, visibleJob } from '../api-context.js';
import { DeliveryNotFound } from '../errors/delivery-not-found.js';
import { emptyBody, errorResponses, jobParams, v1Errors } from './route-schemas.js';

const deliveryParams = jobParams.extend({ deliveryId: z.string().min(1).max(200) });

/** The `/v1/jobs/:id/deliveries` routes: a job's webhook deliveries. */
export function registerDeliveryRoutes(app: ZodFastify, context: ApiContext): void {
  const { deps } = context;

  /** List a job's webhook deliveries. */
  app.get(
    '/jobs/:id/deliveries',
    {
      schema: {
        summary: 'List a job’s webhook deliveries',
        description:
          'Every delivery of the job’s webhook events, oldest first, each with all its attempts (status ' +
          'code or network error, duration, Retry-After). Another tenant’s job is 404.',
        tags: ['deliveries'],
        params: jobParams,
        response: { 200: deliveryListSchema, ...errorResponses(...v1Errors, 404) },
      },
    },
    async (request) => {
      const record = await visibleJob(deps.store, principalOf(request), request.params.id);
      return { deliveries: await deps.deliveries.list(record.id) };
    },
  );

  /** Retry a delivery now. */
  app.post(
    '/jobs/:id/deliveries/:deliveryId/retry',
    {
      schema: {
        summary: 'Retry a webhook delivery',
        description:
          'Queues a new attempt now, whatever the delivery’s state: a failed one restarts its retry ' +
          'schedule, one disabled by 410 Gone is enabled again. Answers 202 with the delivery. Another ' +
          'tenant’s job, or a delivery the job does not have, is 404.',
        tags: ['deliveries'],
        params: deliveryParams,
        body: emptyBody,
        response: { 202: deliveryRecordSchema, ...errorResponses(...v1Errors, 404) },
      },
    },
    async (request, reply) => {
      const record = await visibleJob(deps.store, principalOf(request), request.params.id);
      const delivery = await deps.deliveries.retry(record.id, request.params.deliveryId);
      if (delivery === undefined) throw new DeliveryNotFound(record.id, request.params.deliveryId);
      return reply.code(202).send(delivery);
    },
  );
}
