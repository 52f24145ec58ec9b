import type { DeliveryLedger, DeliveryState } from '../../../jobs/ports/delivery-ledger.js';
import type { Clock } from '../../../jobs/ports/clock.js';

export interface MemoryDeliveryLedger extends DeliveryLedger {
  /** Stores a delivery as it stands (a test seeds one, as `announce` would create it). */
  put(state: DeliveryState): void;
}

/**
 * A {@link DeliveryLedger} in memory with the Redis ledger's rule (`delivery-record-attempt.lua`): an
 * attempt is recorded only while the delivery is pending and it is the next attempt.
 */
export function makeMemoryDeliveryLedger(options: { now?: Clock } = {}): MemoryDeliveryLedger {
  const now = options.now ?? (() => new Date());
  const deliveries = new Map<string, DeliveryState>();
  const keyOf = (jobId: string, deliveryId: string): string => `${jobId}\n${deliveryId}`;
  return {
    put(state) {
      deliveries.set(keyOf(state.jobId, state.id), structuredClone(state));
    },
    get(jobId, deliveryId) {
      const state = deliveries.get(keyOf(jobId, deliveryId));
      return Promise.resolve(state && structuredClone(state));
    },
    recordAttempt(jobId, deliveryId, attempt, next) {
      const state = deliveries.get(keyOf(jobId, deliveryId));
      if (state?.status !== 'pending' || state.attempts.length !== attempt.attempt - 1) {
        return Promise.resolve(false);
      }
      state.attempts.push(structuredClone(attempt));
      state.status = next.status;
      state.updatedAt = now().toISOString();
      if (next.nextAttemptAt === undefined) delete state.nextAttemptAt;
      else state.nextAttemptAt = next.nextAttemptAt;
      return Promise.resolve(true);
    },
  };
}
