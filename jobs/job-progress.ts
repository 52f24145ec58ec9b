import type { ChunkReport } from '../schemas/api.js';
import { TIMELINE_POINTS } from '../schemas/api.js';
import type { JobProgress, JobStatus, JobUsage } from '../schemas/job-record.js';
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

/** What a job's usage is worked out from: its usage counters as the store keeps them. */
export interface UsageFacts {
  /** When the job's first chunk attempt began (ISO 8601); no usage before. */
  scoringStartedAt?: string;
  /** When its last chunk committed (ISO 8601). */
  lastCommitAt?: string;
  cpuSeconds: number;
  deviceSeconds: number;
  bytesRead: number;
  bytesWritten: number;
  retries: number;
  supersededAttempts: number;
  rowsScored: number;
}

const round3 = (n: number): number => Math.round(n * 1000) / 1000;

/**
 * The job's usage: its counters, and the rate over its scoring wall time — from the first attempt's start
 * to the last commit, or to now while it still scores (`running`, `planning` before its first commit).
 */
export function usageOf(facts: UsageFacts, status: JobStatus, nowMs: number): JobUsage | undefined {
  if (facts.scoringStartedAt === undefined) return undefined;
  const startMs = Date.parse(facts.scoringStartedAt);
  const scoring = status === 'running' || facts.lastCommitAt === undefined;
  const endMs =
    scoring && !isTerminal(status) ? nowMs : Date.parse(facts.lastCommitAt ?? facts.scoringStartedAt);
  const scoringSeconds = Math.max(0, (endMs - startMs) / 1000);
  return {
    cpuSeconds: round3(facts.cpuSeconds),
    deviceSeconds: round3(facts.deviceSeconds),
    bytesRead: Math.round(facts.bytesRead),
    bytesWritten: Math.round(facts.bytesWritten),
    scoringSeconds: round3(scoringSeconds),
    rowsPerSecond: scoringSeconds > 0 ? Math.round((facts.rowsScored / scoringSeconds) * 10) / 10 : 0,
    retries: facts.retries,
    supersededAttempts: Math.round(facts.supersededAttempts),
  };
}

/** A committed chunk as the store keeps it. */
export interface CommittedChunkFacts {
  rows: number;
  rejected: number;
  /** When it committed, ms since the epoch. */
  atMs: number;
}

/** What a chunk report is made from: every chunk's bookkeeping, however the store holds it. */
export interface ChunkFacts {
  total: number;
  /** When the job started planning (ISO 8601): the timeline's first point, at 0 rows. */
  startedAt?: string;
  /** Committed chunks by index (those adopted from storage may lack stats: `undefined`). */
  committed: ReadonlyMap<number, CommittedChunkFacts | undefined>;
  /** Attempts begun, by chunk index. */
  attempts: ReadonlyMap<number, number>;
}

/**
 * The chunks of `[offset, offset + limit)` by state, the counts of all, and rows done over time: one point
 * per commit, thinned evenly to `TIMELINE_POINTS` with the last kept.
 */
export function chunkReportOf(facts: ChunkFacts, page: { offset: number; limit: number }): ChunkReport {
  let running = 0;
  for (const index of facts.attempts.keys()) if (!facts.committed.has(index)) running += 1;
  const committed = facts.committed.size;
  const chunks: ChunkReport['chunks'] = [];
  for (let index = page.offset; index < Math.min(facts.total, page.offset + page.limit); index++) {
    const attempts = facts.attempts.get(index) ?? 0;
    if (facts.committed.has(index)) {
      const stats = facts.committed.get(index);
      chunks.push({
        index,
        state: 'committed',
        attempts,
        ...(stats && {
          rows: stats.rows,
          rejected: stats.rejected,
          committedAt: new Date(stats.atMs).toISOString(),
        }),
      });
    } else chunks.push({ index, state: attempts > 0 ? 'running' : 'waiting', attempts });
  }
  const commits = [...facts.committed.values()]
    .filter((c): c is CommittedChunkFacts => c !== undefined)
    .sort((a, b) => a.atMs - b.atMs);
  const points: ChunkReport['timeline'] = [];
  if (facts.startedAt !== undefined) points.push({ at: facts.startedAt, rows: 0 });
  let done = 0;
  const cumulative = commits.map((c) => {
    done += c.rows + c.rejected;
    return { at: new Date(c.atMs).toISOString(), rows: done };
  });
  // Room for the thinned points and, when thinning skips it, the last one.
  const room = TIMELINE_POINTS - points.length - 1;
  const step = Math.max(1, cumulative.length / room);
  for (let k = step - 1; k < cumulative.length; k += step) points.push(cumulative[Math.floor(k)]!);
  const last = cumulative.at(-1);
  if (last && points.at(-1) !== last) points.push(last);
  return {
    total: facts.total,
    counts: { waiting: Math.max(0, facts.total - committed - running), running, committed },
    chunks,
    timeline: points,
  };
}
