import type { RedisClient } from './redis-connection.js';
import { isTerminal } from '../../jobs/job-state.js';
import type { JobEvents } from '../../jobs/ports/job-events.js';
import type { JobRecord } from '../../schemas/job-record.js';

/** A wait for one job's next status change; `cancel()` drops it early (its promise then resolves false). */
export interface PendingChange {
  /** True when a change was announced, false on timeout, abort or cancel. */
  heard: Promise<boolean>;
  cancel(): void;
}

/**
 * Status-change announcements for long-polls, from the job store's pub/sub channel. One subscriber
 * connection serves every waiter of the process: a waiter is a map entry and a timer, not a connection.
 */
export interface JobWatcher extends JobEvents {
  /** Subscribes; resolves once announcements flow. Safe to call twice. */
  start(): Promise<void>;
  /**
   * Registers, before returning, a wait for the next announced change of job `id`, so a change that lands
   * between this call and a fresh read of the job is not missed.
   */
  nextChange(id: string, timeoutMs: number, signal?: AbortSignal): PendingChange;
  /** Ends every wait (unheard) and closes the subscriber connection. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * A watcher subscribed to `channel` through `subscriber`, a connection it owns (and closes). Connection
 * errors go to `onError` (ioredis reconnects and resubscribes by itself).
 */
export function makeJobWatcher(
  subscriber: RedisClient,
  channel: string,
  onError: (error: Error) => void = () => undefined,
): JobWatcher {
  subscriber.on('error', onError);
  const waiters = new Map<string, Set<(heard: boolean) => void>>();
  const listeners = new Map<string, Set<() => void>>();
  let starting: Promise<void> | undefined;
  let closing: Promise<void> | undefined;

  subscriber.on('message', (from: string, id: string) => {
    if (from !== channel) return;
    for (const listener of listeners.get(id) ?? []) listener();
    const wake = waiters.get(id);
    if (wake === undefined) return;
    waiters.delete(id);
    for (const resolve of wake) resolve(true);
  });

  return {
    start() {
      starting ??= subscriber.subscribe(channel).then(() => undefined);
      return starting;
    },

    nextChange(id, timeoutMs, signal) {
      let settle: (heard: boolean) => void = () => undefined;
      const heard = new Promise<boolean>((resolve) => {
        if (closing !== undefined || signal?.aborted === true) {
          resolve(false);
          return;
        }
        const onAbort = (): void => settle(false);
        const timer = setTimeout(() => settle(false), Math.max(0, timeoutMs));
        settle = (value) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          const set = waiters.get(id);
          set?.delete(settle);
          if (set?.size === 0) waiters.delete(id);
          resolve(value);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        const set = waiters.get(id) ?? new Set();
        set.add(settle);
        waiters.set(id, set);
      });
      return { heard, cancel: () => settle(false) };
    },

    onStatusChange(id, onChange) {
      // A wrapper per registration: the same function registered twice is two listeners.
      const listener = (): void => onChange();
      const set = listeners.get(id) ?? new Set();
      set.add(listener);
      listeners.set(id, set);
      return () => {
        set.delete(listener);
        if (set.size === 0 && listeners.get(id) === set) listeners.delete(id);
      };
    },

    close() {
      closing ??= (async () => {
        listeners.clear();
        for (const set of [...waiters.values()]) for (const settle of [...set]) settle(false);
        waiters.clear();
        await subscriber.quit().catch(() => subscriber.disconnect());
      })();
      return closing;
    },
  };
}

/** How often a long-poll re-reads the job even without an announcement (one lost while Redis reconnected). */
const RECHECK_MS = 5_000;

/**
 * Waits up to `waitMs` for job `initial.id` to leave `initial.status`, and returns the job as it then is
 * (undefined if it disappeared). Returns at once for a terminal job, and as soon as `signal` aborts (the
 * API is closing).
 */
export async function waitForStatusChange(
  watcher: JobWatcher,
  read: () => Promise<JobRecord | undefined>,
  initial: JobRecord,
  waitMs: number,
  signal?: AbortSignal,
): Promise<JobRecord | undefined> {
  const deadline = Date.now() + waitMs;
  if (isTerminal(initial.status)) return initial;
  for (;;) {
    if (deadline - Date.now() <= 0 || signal?.aborted === true) return read();
    // Registered before the read: a change landing in between still wakes this wait.
    const change = watcher.nextChange(initial.id, Math.min(deadline - Date.now(), RECHECK_MS), signal);
    const fresh = await read();
    if (fresh === undefined || fresh.status !== initial.status) {
      change.cancel();
      return fresh;
    }
    await change.heard;
  }
}
