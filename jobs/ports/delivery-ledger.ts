import type { DeliveryAttempt, DeliveryRecord, DeliveryStatus } from '../../schemas/delivery.js';

/** A delivery as stored: the record, plus where its current retry schedule began. */
export interface DeliveryState extends DeliveryRecord {
  /** The attempt number the current schedule started at: 1, or the first attempt after a manual retry. */
  scheduleFrom: number;
}

/** Delivery bookkeeping as the processor needs it (on Redis: services/delivery/redis-deliveries.ts). */
export interface DeliveryLedger {
  get(jobId: string, deliveryId: string): Promise<DeliveryState | undefined>;
  /**
   * Appends `attempt` and moves the delivery to `next.status`, atomically and only while the delivery is
   * pending and `attempt.attempt` is its next attempt; false when another run got there first.
   */
  recordAttempt(
    jobId: string,
    deliveryId: string,
    attempt: DeliveryAttempt,
    next: { status: DeliveryStatus; nextAttemptAt?: string },
  ): Promise<boolean>;
}
