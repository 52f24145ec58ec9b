import { enforceDeadlines, type EnforceDeadlinesDeps } from '../../jobs/deadlines/enforce-deadlines.js';

export interface DeadlineSweeper {
  /** Stops the timer and waits for a pass in flight; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Runs `enforceDeadlines` every `intervalMs` (default 1 s) in this process. The API and every worker run
 * one: the deadlines live in Redis, the moves are compare-and-move scripts, so several sweepers never end a
 * job twice, and a job still expires with no worker running. A pass is skipped while the last one runs; a
 * failed pass (Redis away) is logged and the next one tries again.
 */
export function startDeadlineSweeper(deps: EnforceDeadlinesDeps, intervalMs = 1_000): DeadlineSweeper {
  let running: Promise<void> | undefined;
  const pass = (): void => {
    if (running) return;
    running = enforceDeadlines(deps)
      .then(() => undefined)
      .catch((error: unknown) => deps.log.warn({ err: error }, 'deadline sweep failed'))
      .finally(() => (running = undefined));
  };
  const timer = setInterval(pass, intervalMs);
  timer.unref();
  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        await running;
      })();
      return closing;
    },
  };
}
