import type { DeliveryRecord } from '../../schemas/delivery.js';
import type { JobRecord } from '../../schemas/job-record.js';

/**
 * Webhook deliveries as the rest of the system sees them: the pipeline announces terminal jobs, the API
 * lists a job's deliveries and retries one. Implemented on Redis + the `deliver` queue in this folder.
 */
export interface Deliveries {
  /**
   * Records and queues the delivery of the event for a job that reached a terminal state, when its spec
   * has a webhook. Idempotent: the same job and event always make one delivery (same `webhook-id`).
   */
  announce(record: JobRecord): Promise<void>;
  /** Every delivery of the job, oldest first, each with all its attempts. */
  list(jobId: string): Promise<DeliveryRecord[]>;
  /**
   * Queues a new attempt now for a delivery in any state (re-enabling one disabled by 410, restarting the
   * schedule of a failed one); undefined when the job has no such delivery.
   */
  retry(jobId: string, deliveryId: string): Promise<DeliveryRecord | undefined>;
}
