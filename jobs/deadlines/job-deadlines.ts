import type { JobRecord } from '../../schemas/job-record.js';
import type { JobSpec } from '../../schemas/job-spec.js';
import { JobExpired } from '../errors/job-expired.js';
import { JobTimeout } from '../errors/job-timeout.js';
import { jobErrorOf } from '../job-error.js';
import type { DeadlineMove } from '../ports/job-store.js';

/**
 * When an attempt queued at `queuedAtMs` must first be looked at: the earliest moment either deadline can
 * fall (the expiry exactly; the timeout no earlier than if the job started at once). Undefined when the
 * spec sets neither.
 */
export function firstDeadlineCheckMs(
  spec: Pick<JobSpec, 'timeoutSeconds' | 'expiresAfterSeconds'>,
  queuedAtMs: number,
): number | undefined {
  const seconds = [spec.expiresAfterSeconds, spec.timeoutSeconds].filter((s) => s !== undefined);
  return seconds.length === 0 ? undefined : queuedAtMs + Math.min(...seconds) * 1000;
}

/** What a due deadline entry asks for now: end the job, look again later, or nothing more. */
export type DeadlineVerdict =
  { kind: 'move'; move: DeadlineMove } | { kind: 'later'; atMs: number } | { kind: 'drop' };

/**
 * The deadline of the job's current attempt at `nowMs`. `expiresAfterSeconds` counts from when the attempt
 * was queued and applies only while it is `queued`; `timeoutSeconds` counts from its start (`startedAt`,
 * set on entering `planning`) and applies while it plans or runs — a finalizing job has every chunk done
 * and is let finish. The move itself is a compare-and-move in the store, so this verdict may be stale.
 */
export function deadlineVerdict(record: JobRecord, nowMs: number): DeadlineVerdict {
  const { timeoutSeconds, expiresAfterSeconds } = record.spec;
  const queuedAtMs = Date.parse(record.queuedAt ?? record.createdAt);
  if (record.status === 'queued') {
    if (expiresAfterSeconds !== undefined) {
      const expiresAtMs = queuedAtMs + expiresAfterSeconds * 1000;
      if (nowMs >= expiresAtMs) {
        const error = jobErrorOf(new JobExpired(record.id, expiresAfterSeconds));
        return { kind: 'move', move: { to: 'expired', from: ['queued'], error } };
      }
      return {
        kind: 'later',
        atMs: Math.min(expiresAtMs, timeoutSeconds === undefined ? Infinity : nowMs + timeoutSeconds * 1000),
      };
    }
    // Not started yet: its timeout falls no earlier than one timeout from now.
    return timeoutSeconds === undefined
      ? { kind: 'drop' }
      : { kind: 'later', atMs: nowMs + timeoutSeconds * 1000 };
  }
  if (record.status === 'planning' || record.status === 'running') {
    if (timeoutSeconds === undefined) return { kind: 'drop' };
    const startedAtMs = record.startedAt === undefined ? nowMs : Date.parse(record.startedAt);
    const deadlineMs = startedAtMs + timeoutSeconds * 1000;
    if (nowMs < deadlineMs) return { kind: 'later', atMs: deadlineMs };
    const error = jobErrorOf(new JobTimeout(record.id, timeoutSeconds));
    return { kind: 'move', move: { to: 'failed', from: ['planning', 'running'], error } };
  }
  // Finalizing, cancelling or ended: no deadline applies any more.
  return { kind: 'drop' };
}
