/**
 * The chunks one worker process scores at once, shared by its score queues (one BullMQ worker per device
 * class, each of which could take `limit` chunks by itself): memory in flight and the device's load stay
 * what `scoreConcurrency` says however many classes the process takes.
 */
export interface ScoreSlots {
  /**
   * Waits for a free slot: `true` once this caller holds one (give it back with {@link release}), `false`
   * when the slots were closed first (the process drains: the chunk should go back to its queue).
   * Rejects with the signal's reason when `signal` aborts first.
   */
  acquire(signal: AbortSignal): Promise<boolean>;
  release(): void;
  /** Answers every waiting and later `acquire` with `false`. Safe to call twice. */
  close(): void;
}

export function makeScoreSlots(limit: number): ScoreSlots {
  let free = limit;
  let closed = false;
  const waiters: Array<(held: boolean) => void> = [];
  return {
    acquire(signal) {
      if (closed) return Promise.resolve(false);
      if (signal.aborted) return Promise.reject(signal.reason as Error);
      if (free > 0) {
        free--;
        return Promise.resolve(true);
      }
      return new Promise<boolean>((resolve, reject) => {
        const onAbort = () => {
          waiters.splice(waiters.indexOf(wake), 1);
          reject(signal.reason as Error);
        };
        const wake = (held: boolean) => {
          signal.removeEventListener('abort', onAbort);
          resolve(held);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        waiters.push(wake);
      });
    },
    release() {
      const next = waiters.shift();
      // The slot passes straight to the next waiter: a release never lets two callers in for one slot.
      if (next) next(true);
      else free++;
    },
    close() {
      closed = true;
      for (const wake of waiters.splice(0)) wake(false);
    },
  };
}
