import { isTerminal } from './job-state.js';
import type { JobRecord } from '../schemas/job-record.js';
import type { JobStore } from './ports/job-store.js';

/**
 * The store with `onTerminal` called after every transition that leaves the job terminal (succeeded,
 * failed, cancelled), whoever made it: finalize, a permanent chunk error, retries running out. A repeated
 * transition calls it again, so `onTerminal` must be idempotent (deliveries are keyed by job and event).
 */
export function withTerminalHook(
  store: JobStore,
  onTerminal: (record: JobRecord) => Promise<void>,
): JobStore {
  return {
    ...store,
    async transition(id, to, patch) {
      const record = await store.transition(id, to, patch);
      if (isTerminal(record.status)) await onTerminal(record);
      return record;
    },
  };
}
