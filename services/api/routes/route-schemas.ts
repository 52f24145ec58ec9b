import { z } from 'zod';
import { apiErrorSchema } from '../../../schemas/api.js';

/** OpenAPI responses for the error statuses a route can answer, all in the one error shape. */
export function errorResponses(...statuses: number[]): Record<number, typeof apiErrorSchema> {
  return Object.fromEntries(statuses.map((status) => [status, apiErrorSchema]));
}

/**
 * Errors every authenticated `/v1` route can answer: bad input, no key, too many requests, and Redis
 * unavailable (`NOT_READY`, e.g. when failed authentications cannot be counted) or full (`STORE_FULL`).
 */
export const v1Errors = [400, 401, 429, 503] as const;

/** `:id` of the `/v1/jobs/:id…` routes. */
export const jobParams = z.object({ id: z.string().min(1).max(200) });

/** A body that must be absent or `{}`: actions take no parameters (yet), and unknown fields are refused. */
export const emptyBody = z.object({}).strict().nullish();
