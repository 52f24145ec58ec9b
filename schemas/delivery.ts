import { z } from 'zod';
import { webhookEventTypeSchema } from './webhook-event.js';

const isoTimestamp = z.iso.datetime({ offset: true });

/**
 * Where a delivery stands. `pending`: an attempt is queued or scheduled; `delivered`: the receiver answered
 * 2xx; `failed`: the retry schedule ran out; `disabled`: the receiver answered 410 Gone (no more attempts);
 * `refused`: the URL is not allowed (SSRF guard) — nothing was sent.
 */
export const deliveryStatusSchema = z.enum(['pending', 'delivered', 'failed', 'disabled', 'refused']);
export type DeliveryStatus = z.infer<typeof deliveryStatusSchema>;

/** One try to deliver an event: when, how long, and what came back (a status code or a network error). */
export const deliveryAttemptSchema = z.object({
  /** 1-based. */
  attempt: z.number().int().positive(),
  at: isoTimestamp,
  durationMs: z.number().nonnegative(),
  /** The receiver's HTTP status; absent when no response came (refused, reset, timeout, SSRF guard). */
  statusCode: z.number().int().optional(),
  /** Why the attempt failed, when it did. */
  error: z.string().optional(),
  /** Seconds the receiver asked us to wait (`Retry-After`), when it said so. */
  retryAfterSeconds: z.number().nonnegative().optional(),
});
export type DeliveryAttempt = z.infer<typeof deliveryAttemptSchema>;

/** A webhook delivery of one event of one job, with every attempt (`GET /v1/jobs/:id/deliveries`). */
export const deliveryRecordSchema = z.object({
  /** Also the Standard Webhooks `webhook-id` (`msg_…`): stable across retries so receivers can dedupe. */
  id: z.string().min(1),
  jobId: z.string().min(1),
  event: webhookEventTypeSchema,
  url: z.string(),
  status: deliveryStatusSchema,
  createdAt: isoTimestamp,
  updatedAt: isoTimestamp,
  /** When the next attempt is due, while `pending`. */
  nextAttemptAt: isoTimestamp.optional(),
  attempts: z.array(deliveryAttemptSchema),
});
export type DeliveryRecord = z.infer<typeof deliveryRecordSchema>;
