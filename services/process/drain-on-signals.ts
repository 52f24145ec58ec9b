import { constants } from 'node:os';
import type { Log } from '../../jobs/ports/log.js';

/** Where signals come from: `process`, or a stand-in in tests. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

export type DrainingProcessState = 'running' | 'draining' | 'stopped';

/** How a draining process ends; a forced exit (second signal) is 128 + the signal's number, as shells report. */
export const drainExitCodes = {
  /** Drained: the work in hand finished, every connection closed. */
  drained: 0,
  /** The grace period ran out mid-drain; unfinished work is delivered again elsewhere. */
  graceExpired: 1,
} as const;

export interface DrainingProcess {
  readonly state: DrainingProcessState;
  /**
   * Stops taking work, lets the work in hand finish within the grace period, closes everything. Safe to
   * call any number of times; returns {@link exited}.
   */
  drain(reason: string): Promise<number>;
  /** Resolves once the process should exit, with its exit code (see {@link drainExitCodes}). */
  readonly exited: Promise<number>;
}

export interface DrainOptions {
  /** Default `process`. One draining process per source: its handlers are removed when it stops. */
  signals?: SignalSource;
  log: Log;
  graceMs: number;
  /** Logged when the drain starts, e.g. "draining: no new chunks; finishing the ones in hand". */
  drainingMessage: string;
  /** Logged when the grace runs out, saying what happens to the unfinished work. */
  graceExpiredMessage: string;
  /** Runs first when the drain starts (e.g. stop watching for spot notices). */
  onDrain?: () => void;
  /**
   * What to close, in order: first what stops taking work and waits for the work in hand, then the
   * connections. Every step runs even when one before it fails.
   */
  closeSteps: () => Array<[what: string, close: () => unknown]>;
}

const drainSignals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
/** Sources that already carry a draining process's handlers: a second registration would drain twice. */
const registered = new WeakSet<SignalSource>();

/**
 * The lifecycle every Quiver process that takes queued work shares (graphile-worker's rule): the first
 * SIGTERM/SIGINT drains — stop taking work, let the work in hand finish within the grace period, close
 * everything — and a second signal ends at once. The caller exits with the code {@link DrainingProcess.exited}
 * resolves to.
 */
export function drainOnSignals(o: DrainOptions): DrainingProcess {
  const signals = o.signals ?? process;
  if (registered.has(signals)) throw new Error('a draining process is already running in this process');
  registered.add(signals);
  const { log } = o;

  let state: DrainingProcessState = 'running';
  let exitCode: number | undefined;
  let resolveExited!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (resolveExited = resolve));
  const finish = (code: number, message: string, context?: Record<string, unknown>): void => {
    if (exitCode !== undefined) return;
    exitCode = code;
    log[code === 0 ? 'info' : 'error']({ state, exitCode: code, ...context }, message);
    for (const signal of drainSignals) signals.off(signal, onSignal);
    registered.delete(signals);
    resolveExited(code);
  };

  let draining: Promise<number> | undefined;
  const drain = (reason: string): Promise<number> => {
    draining ??= (async () => {
      state = 'draining';
      o.onDrain?.();
      log.info({ reason, graceMs: o.graceMs }, o.drainingMessage);
      const grace = setTimeout(
        () => finish(drainExitCodes.graceExpired, o.graceExpiredMessage, { reason, graceMs: o.graceMs }),
        o.graceMs,
      );
      grace.unref();
      for (const [what, close] of o.closeSteps()) {
        try {
          await close();
        } catch (error) {
          log.error({ what, err: error }, 'could not close');
        }
      }
      clearTimeout(grace);
      state = 'stopped';
      finish(drainExitCodes.drained, 'stopped', { reason });
      return exited;
    })();
    return draining;
  };

  let signalsSeen = 0;
  function onSignal(signal: NodeJS.Signals): void {
    signalsSeen += 1;
    // Only a second *signal* forces: a drain started otherwise (a spot notice) still finishes its work
    // when the instance's own SIGTERM arrives.
    if (signalsSeen === 1) {
      void drain(signal);
      return;
    }
    finish(128 + (constants.signals[signal] ?? 0), 'second signal: exiting at once', { signal });
  }
  for (const signal of drainSignals) signals.on(signal, onSignal);

  return {
    get state() {
      return state;
    },
    drain,
    exited,
  };
}
