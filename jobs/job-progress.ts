import type { JobProgress, JobStatus } from '../schemas/job-record.js';
import { isTerminal } from './job-state.js';

/** What a job's progress is worked out from: its counters and timestamps as the store keeps them. */
export interface ProgressFacts {
  /** Unknown until planning has counted the chunks. */
  chunksTotal?: number;
  chunksDone: number;
  rowsScored: number;
  rowsRejected: number;
  /** Rows of the whole input, when planning knows them all. */
  inputRows?: number;
  /** When the job started planning (ISO 8601). */
  startedAt?: string;
  /** When the job reached a terminal state (ISO 8601). */
  finishedAt?: string;
}

/**
 * Rates since the job started planning (until it finished). The ETA extrapolates the observed chunk rate
 * over the chunks left; it is null until the job is planned and has committed a chunk, and once it can no
 * longer finish (failed, cancelling, cancelled).
 */
export function progressOf(facts: ProgressFacts, status: JobStatus, nowMs: number): JobProgress {
  const { chunksDone, rowsScored, rowsRejected } = facts;
  const chunksTotal = facts.chunksTotal ?? 0;
  const startedMs = facts.startedAt === undefined ? undefined : Date.parse(facts.startedAt);
  const endMs = facts.finishedAt === undefined ? nowMs : Date.parse(facts.finishedAt);
  const seconds = startedMs === undefined ? 0 : Math.max(0, (endMs - startedMs) / 1000);
  const rowsPerSecond = seconds > 0 ? Math.round((rowsScored / seconds) * 10) / 10 : 0;

  let etaSeconds: number | null = null;
  if (status === 'succeeded') etaSeconds = 0;
  else if (!isTerminal(status) && status !== 'cancelling' && facts.chunksTotal !== undefined) {
    const remaining = Math.max(0, chunksTotal - chunksDone);
    if (remaining === 0) etaSeconds = 0;
    else if (chunksDone > 0 && seconds > 0) etaSeconds = Math.ceil((remaining * seconds) / chunksDone);
  }
  const progress: JobProgress = {
    chunksTotal,
    chunksDone,
    rowsScored,
    rowsRejected,
    rowsPerSecond,
    etaSeconds,
  };
  if (facts.inputRows !== undefined) progress.rowsTotal = facts.inputRows;
  return progress;
}
