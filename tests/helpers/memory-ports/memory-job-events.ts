import type { JobEvents } from '../../../jobs/ports/job-events.js';

/** {@link JobEvents} in memory: the memory job store announces every status change through `announce`. */
export interface MemoryJobEvents extends JobEvents {
  /** Calls every listener of job `id`, as a pub/sub message would (synchronously: no message is lost). */
  announce(id: string): void;
  /** Listeners still subscribed, over every job (a test asserts a chunk unsubscribed when it ended). */
  listeners(): number;
}

export function makeMemoryJobEvents(): MemoryJobEvents {
  const byJob = new Map<string, Set<() => void>>();
  return {
    onStatusChange(id, onChange) {
      const set = byJob.get(id) ?? new Set();
      byJob.set(id, set);
      // A fresh wrapper per subscription, so subscribing one function twice needs two unsubscribes.
      const listener = (): void => onChange();
      set.add(listener);
      return () => {
        set.delete(listener);
      };
    },
    announce(id) {
      for (const listener of [...(byJob.get(id) ?? [])]) listener();
    },
    listeners: () => [...byJob.values()].reduce((n, set) => n + set.size, 0),
  };
}
