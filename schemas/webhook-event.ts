import { z } from 'zod';
import { jobRecordSchema, type JobRecord } from './job-record.js';

/** The events a job's webhook receives: one per terminal state (per attempt, when the job is retried). */
export const webhookEventTypeSchema = z.enum(['job.succeeded', 'job.failed', 'job.cancelled', 'job.expired']);
export type WebhookEventType = z.infer<typeof webhookEventTypeSchema>;

/** The event for a job that reached terminal status `status`; undefined for other states. */
export function webhookEventTypeOf(status: JobRecord['status']): WebhookEventType | undefined {
  if (status === 'succeeded') return 'job.succeeded';
  if (status === 'failed') return 'job.failed';
  if (status === 'cancelled') return 'job.cancelled';
  if (status === 'expired') return 'job.expired';
  return undefined;
}

/**
 * The job as a webhook carries it: the record without its spec (small, and no secret in it), so a receiver
 * gets id, status, counts, where the manifest is and, on failure, the error.
 */
export const webhookJobSchema = jobRecordSchema.omit({ spec: true }).extend({
  name: z.string().optional(),
  labels: z.record(z.string(), z.string()),
});
export type WebhookJob = z.infer<typeof webhookJobSchema>;

/** Standard Webhooks body: `{ type, timestamp, data }`. */
export const webhookEventSchema = z.object({
  type: webhookEventTypeSchema,
  timestamp: z.iso.datetime({ offset: true }),
  data: webhookJobSchema,
});
export type WebhookEvent = z.infer<typeof webhookEventSchema>;

export function webhookJobOf(record: JobRecord): WebhookJob {
  const { spec, ...rest } = record;
  return { ...rest, ...(spec.name === undefined ? {} : { name: spec.name }), labels: spec.labels };
}
