import type { ScheduleRunView } from '../../schemas/schedule.js';
import type { ApiClient, ScheduleCallOptions } from './api-client.js';
import { type ExitCode, exitCodes } from './exit-codes.js';
import { formatCount } from './output.js';
import { watchDefaults, isTransient } from './watch-job.js';

/**
 * Statuses a run never leaves: its job ended, the run was refused (its template no longer made a valid
 * job), or its job record is gone (retention).
 */
export const endedRunStatuses: ReadonlySet<string> = new Set([
  'succeeded',
  'failed',
  'cancelled',
  'expired',
  'refused',
  'missing',
]);

/** How a set of runs stands: counts by outcome, and the rows their jobs scored so far. */
export interface RunTally {
  total: number;
  ended: number;
  succeeded: number;
  /** Failed jobs and refused runs. */
  failed: number;
  cancelled: number;
  waiting: number;
  /** Admitted runs and unfinished jobs. */
  active: number;
  rows: number;
}

export function tallyRuns(runs: readonly ScheduleRunView[]): RunTally {
  const tally: RunTally = {
    total: runs.length,
    ended: 0,
    succeeded: 0,
    failed: 0,
    cancelled: 0,
    waiting: 0,
    active: 0,
    rows: 0,
  };
  for (const run of runs) {
    tally.rows += run.rows ?? 0;
    if (endedRunStatuses.has(run.status)) tally.ended += 1;
    if (run.status === 'succeeded') tally.succeeded += 1;
    else if (run.status === 'failed' || run.status === 'refused' || run.status === 'expired')
      tally.failed += 1;
    else if (run.status === 'cancelled') tally.cancelled += 1;
    else if (run.status === 'waiting') tally.waiting += 1;
    else if (run.status !== 'missing') tally.active += 1;
  }
  return tally;
}

/** `[########----------------] 3/9 runs ended: 2 succeeded, 1 failed  1 active  5 waiting  12,345 rows`. */
export function renderRunsProgress(tally: RunTally, width = 24): string {
  const filled = tally.total === 0 ? width : Math.round((tally.ended / tally.total) * width);
  const outcomes = [
    `${tally.succeeded} succeeded`,
    ...(tally.failed > 0 ? [`${tally.failed} failed`] : []),
    ...(tally.cancelled > 0 ? [`${tally.cancelled} cancelled`] : []),
  ];
  return [
    `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`,
    `${tally.ended}/${tally.total} runs ended: ${outcomes.join(', ')}`,
    `${tally.active} active`,
    `${tally.waiting} waiting`,
    `${formatCount(tally.rows)} rows`,
  ].join('  ');
}

/** What makes a non-TTY progress line worth printing: any count changing. */
export const runsChangeKey = (tally: RunTally): string => Object.values(tally).join('/');

/**
 * The exit code of runs that all ended, as the job commands' for one job: 3 when any failed (or was
 * refused), else 4 when any was cancelled, else 0.
 */
export function exitCodeForRuns(runs: readonly ScheduleRunView[]): ExitCode {
  const tally = tallyRuns(runs);
  if (tally.failed > 0) return exitCodes.jobFailed;
  if (tally.cancelled > 0) return exitCodes.jobCancelled;
  return exitCodes.ok;
}

/** Options of {@link watchRuns}. */
export interface WatchRunsOptions extends ScheduleCallOptions {
  /** Seconds between polls of the schedule's runs. Default 2. */
  intervalSeconds?: number;
  /** Give up after this many seconds, runs still going. Default: watch until all end. */
  timeoutSeconds?: number;
  /** Called with the runs' state after every poll, the first and the last included. */
  onUpdate?: (runs: ScheduleRunView[]) => void;
  /** Failed polls in a row tolerated (API unreachable, 429, 5xx), with backoff. Default 5. */
  maxRetries?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Runs fetched per page while looking for the watched ones (the API's maximum). */
const PAGE_LIMIT = 200;

/**
 * The current state of `runs` (by logical time), paging through the schedule's runs newest first until
 * every one is found or the pages are older than the oldest of them. A run no page shows keeps its last
 * state.
 */
async function refreshRuns(
  client: ApiClient,
  name: string,
  runs: readonly ScheduleRunView[],
  options: ScheduleCallOptions,
): Promise<ScheduleRunView[]> {
  const wanted = new Map(runs.map((run) => [run.logicalTime, run]));
  const oldest = Math.min(...runs.map((run) => Date.parse(run.at)));
  const found = new Map<string, ScheduleRunView>();
  let cursor: string | undefined;
  for (;;) {
    const page = await client.listScheduleRuns(name, {
      ...options,
      limit: PAGE_LIMIT,
      ...(cursor === undefined ? {} : { cursor }),
    });
    for (const run of page.runs) if (wanted.has(run.logicalTime)) found.set(run.logicalTime, run);
    const last = page.runs.at(-1);
    if (found.size === wanted.size || page.nextCursor === null || last === undefined) break;
    if (Date.parse(last.at) < oldest) break;
    cursor = page.nextCursor;
  }
  return runs.map((run) => found.get(run.logicalTime) ?? run);
}

/**
 * Follows a schedule's runs (a backfill's) by polling its run history until every one has ended (or
 * `timeoutSeconds` runs out). Returns their last state.
 */
export async function watchRuns(
  client: ApiClient,
  name: string,
  initial: readonly ScheduleRunView[],
  options: WatchRunsOptions = {},
): Promise<{ runs: ScheduleRunView[]; timedOut: boolean }> {
  const interval = Math.min(60, Math.max(0.1, options.intervalSeconds ?? watchDefaults.intervalSeconds));
  const maxRetries = options.maxRetries ?? watchDefaults.maxRetries;
  const now = options.now ?? (() => performance.now());
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = options.timeoutSeconds === undefined ? Infinity : now() + options.timeoutSeconds * 1000;
  const scope: ScheduleCallOptions = options.tenant === undefined ? {} : { tenant: options.tenant };
  let runs = [...initial];
  options.onUpdate?.(runs);
  let failures = 0;
  while (runs.some((run) => !endedRunStatuses.has(run.status))) {
    const left = deadline - now();
    if (left <= 0) return { runs, timedOut: true };
    await sleep(Math.min(interval * 1000, left));
    try {
      runs = await refreshRuns(client, name, runs, scope);
      failures = 0;
    } catch (error) {
      if (!isTransient(error) || failures >= maxRetries) throw error;
      failures += 1;
      await sleep(Math.min(10_000, 1000 * 2 ** (failures - 1)));
      continue;
    }
    options.onUpdate?.(runs);
  }
  return { runs, timedOut: false };
}
