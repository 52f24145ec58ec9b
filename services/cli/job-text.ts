import type { JobUsage, JobView } from '../../schemas/job-record.js';
import { describeJobError, formatBytes, formatCount, formatDuration, secondsBetween } from './output.js';
import { renderProgressLine } from './progress.js';

/**
 * The line a watch ends on: `job J succeeded: 1,000,000 rows scored, 0 rejected in 12s → <manifest>`, or the
 * failure with its code and where it happened.
 */
export function summarizeOutcome(job: JobView): string {
  const p = job.progress;
  const took = formatDuration(secondsBetween(job.startedAt ?? job.createdAt, job.finishedAt));
  switch (job.status) {
    case 'succeeded':
      return `job ${job.id} succeeded: ${formatCount(p.rowsScored)} rows scored, ${formatCount(p.rowsRejected)} rejected in ${took}${job.output.manifestUri ? ` → ${job.output.manifestUri}` : ''}`;
    case 'failed':
      return `job ${job.id} failed${job.error ? `: ${describeJobError(job.error)}` : ''}`;
    case 'cancelled':
      return `job ${job.id} cancelled after ${p.chunksDone}/${p.chunksTotal} chunks`;
    case 'expired':
      return `job ${job.id} expired: still queued after ${job.spec.expiresAfterSeconds ?? '?'}s, never started`;
    default:
      return `job ${job.id} ${job.status}: ${p.chunksDone}/${p.chunksTotal} chunks, ${formatCount(p.rowsScored)} rows`;
  }
}

/**
 * `cpu 12.4s, device 9.8s, read 1.2 GB, wrote 310 MB, 48,213 rows/s over 21s, 1 retry, 0 superseded`.
 */
export function describeUsage(usage: JobUsage): string {
  const plural = (n: number, one: string, many: string) => `${formatCount(n)} ${n === 1 ? one : many}`;
  return [
    `cpu ${usage.cpuSeconds.toFixed(1)}s`,
    `device ${usage.deviceSeconds.toFixed(1)}s`,
    `read ${formatBytes(usage.bytesRead)}`,
    `wrote ${formatBytes(usage.bytesWritten)}`,
    `${formatCount(Math.round(usage.rowsPerSecond))} rows/s over ${formatDuration(usage.scoringSeconds)}`,
    plural(usage.retries, 'retry', 'retries'),
    `${formatCount(usage.supersededAttempts)} superseded`,
  ].join(', ');
}

/** `quiver status`'s text: one labelled line per fact, the absent ones left out. */
export function describeJob(job: JobView): string {
  const { spec } = job;
  const lines: Array<[string, string | undefined]> = [
    ['id', job.id],
    ['name', spec.name],
    ['status', job.status],
    ['progress', renderProgressLine(job)],
    ['error', job.error ? describeJobError(job.error) : undefined],
    [
      'attempt',
      job.attempts === undefined || job.attempts === 1
        ? undefined
        : `${job.attempts} (before: ${(job.previousAttempts ?? [])
            .map((a) => `${a.status}${a.error ? ` ${a.error.code}` : ''}`)
            .join(', ')})`,
    ],
    ['created', job.createdAt],
    ['started', job.startedAt],
    ['finished', job.finishedAt],
    ['deadline', deadlineText(spec.timeoutSeconds, spec.expiresAfterSeconds)],
    [
      'took',
      job.finishedAt
        ? formatDuration(secondsBetween(job.startedAt ?? job.createdAt, job.finishedAt))
        : undefined,
    ],
    ['input', `${spec.input.uri} (${spec.input.format})`],
    ['model', spec.model.uri],
    ['output', `${job.output.uri} (${spec.output.format})`],
    ['manifest', job.output.manifestUri],
    ['usage', job.usage ? describeUsage(job.usage) : undefined],
    [
      'labels',
      Object.keys(spec.labels).length > 0
        ? Object.entries(spec.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')
        : undefined,
    ],
  ];
  return lines
    .filter((line): line is [string, string] => line[1] !== undefined)
    .map(([label, value]) => `${label.padEnd(9)} ${value}\n`)
    .join('');
}

/** `timeout 3600s, expires after 600s queued`, or undefined when the spec sets neither. */
function deadlineText(timeoutSeconds: number | undefined, expiresAfterSeconds: number | undefined) {
  const parts = [
    ...(timeoutSeconds === undefined ? [] : [`timeout ${timeoutSeconds}s`]),
    ...(expiresAfterSeconds === undefined ? [] : [`expires after ${expiresAfterSeconds}s queued`]),
  ];
  return parts.length === 0 ? undefined : parts.join(', ');
}
