import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { DeviceRequest } from '../../services/scoring/devices.js';
import type { CompiledWorkerOptions } from '../../services/worker/worker-options.js';

const quiver = join(import.meta.dirname, '../../services/cli/quiver.js');

/** `quiver worker` options for `superviseDevices` in tests: caches under `dir`, the defaults' limits. */
export function supervisedWorkerOptions(
  dir: string,
  devices: DeviceRequest[],
  overrides: Partial<CompiledWorkerOptions> = {},
): CompiledWorkerOptions {
  return {
    devices,
    shutdownGraceMs: 20_000,
    spotPollMs: 5_000,
    lockDurationMs: 30_000,
    checkpointMs: 30_000,
    modelCacheDir: join(dir, 'models'),
    tuningCachePath: join(dir, 'tuning.json'),
    maxOpenModels: 4,
    maxChunksPerJob: 100_000,
    maxModelBytes: 2 * 1024 ** 3,
    maxRecordBytes: 64 * 1024 ** 2,
    maxFooterBytes: 64 * 1024 ** 2,
    ...overrides,
  };
}

/** One JSON log line of a worker process. */
export interface WorkerEvent {
  msg: string;
  level: string;
  jobId?: string;
  chunk?: number;
  reason?: string;
  [key: string]: unknown;
}

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** `performance.now()` when it ended. */
  at: number;
}

export interface WorkerHandle {
  name: string;
  child: ChildProcess;
  /** Every JSON line it wrote on stdout or stderr, in order. */
  events: WorkerEvent[];
  /** Lines that were not JSON (runtime warnings, crashes). */
  text: string[];
  /** Every line it wrote on stdout or stderr, as written. */
  output: string[];
  exited: Promise<WorkerExit>;
  /** Resolves with the first event (already seen or to come) that matches, or rejects after `timeoutMs`. */
  waitFor(match: (event: WorkerEvent) => boolean, timeoutMs?: number): Promise<WorkerEvent>;
}

/**
 * `quiver worker` processes started with a shared environment (plus per-process extras); `killAll()` in
 * `afterAll` leaves none running.
 */
export function makeWorkerFleet(env: Record<string, string>) {
  const all: WorkerHandle[] = [];

  function start(name: string, args: string[] = [], extraEnv: Record<string, string> = {}): WorkerHandle {
    const child = spawn(process.execPath, [quiver, 'worker', ...args], {
      env: { ...process.env, ...env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const events: WorkerEvent[] = [];
    const text: string[] = [];
    const output: string[] = [];
    const waiters = new Set<() => void>();
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        output.push(line);
        try {
          events.push(JSON.parse(line) as WorkerEvent);
        } catch {
          text.push(line);
        }
        for (const wake of waiters) wake();
      });
    }
    const exited = new Promise<WorkerExit>((resolve) =>
      child.once('exit', (code, signal) => {
        resolve({ code, signal, at: performance.now() });
        for (const wake of waiters) wake();
      }),
    );
    const handle: WorkerHandle = {
      name,
      child,
      events,
      text,
      output,
      exited,
      waitFor(match, timeoutMs = 30_000) {
        return new Promise((resolve, reject) => {
          const check = () => {
            const found = events.find(match);
            if (found) return done(() => resolve(found));
            if (child.exitCode !== null || child.signalCode !== null) {
              done(() =>
                reject(
                  new Error(
                    `${name} exited before the event: ${[...text, ...events.map((e) => e.msg)].slice(-8).join(' | ')}`,
                  ),
                ),
              );
            }
          };
          const timer = setTimeout(
            () =>
              done(() =>
                reject(
                  new Error(`${name}: no such event within ${timeoutMs} ms: ${text.slice(-5).join(' | ')}`),
                ),
              ),
            timeoutMs,
          );
          const done = (settle: () => void) => {
            clearTimeout(timer);
            waiters.delete(check);
            settle();
          };
          waiters.add(check);
          check();
        });
      },
    };
    all.push(handle);
    return handle;
  }

  return {
    start,
    all,
    /** Workers not yet ended. */
    live: () => all.filter((w) => w.child.exitCode === null && w.child.signalCode === null),
    /** SIGKILLs every worker still running and waits for each to end. Safe twice. */
    async killAll(): Promise<void> {
      await Promise.all(
        all.map(async (w) => {
          if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
          await w.exited;
        }),
      );
    },
  };
}

export type WorkerFleet = ReturnType<typeof makeWorkerFleet>;

/** `chunk committed` events across workers, by chunk index: how often each chunk was committed. */
export function commitsByChunk(workers: readonly WorkerHandle[], jobId: string): Map<number, number> {
  const counts = new Map<number, number>();
  for (const w of workers)
    for (const e of w.events)
      if (e.msg === 'chunk committed' && e.jobId === jobId && typeof e.chunk === 'number')
        counts.set(e.chunk, (counts.get(e.chunk) ?? 0) + 1);
  return counts;
}
