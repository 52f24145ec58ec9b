import type { JobProgress, JobStatus } from '../../schemas/job-record.js';
import { type OutputStream, formatCount, formatDuration, formatRate } from './output.js';

/** What a progress line shows of a job. */
export interface ProgressSnapshot {
  status: JobStatus;
  progress: JobProgress;
}

const BAR_WIDTH = 24;

/** `[#########---------------]`: chunks done of chunks total (empty until the job is planned). */
export function renderProgressBar(progress: JobProgress, width = BAR_WIDTH): string {
  const fraction = progress.chunksTotal > 0 ? Math.min(1, progress.chunksDone / progress.chunksTotal) : 0;
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

/**
 * One line of progress:
 * `[######------------------] running     3/12 chunks  1,234,567 rows  12 rejected  250k rows/s  ETA 1m05s`.
 */
export function renderProgressLine(job: ProgressSnapshot): string {
  const p = job.progress;
  const parts = [
    renderProgressBar(p),
    job.status.padEnd(10),
    `${p.chunksDone}/${p.chunksTotal} chunks`,
    `${formatCount(p.rowsScored)} rows`,
    ...(p.rowsRejected > 0 ? [`${formatCount(p.rowsRejected)} rejected`] : []),
    formatRate(p.rowsPerSecond),
    `ETA ${formatDuration(p.etaSeconds)}`,
  ];
  return parts.join('  ');
}

/** What makes a non-TTY progress line worth printing: anything but the rate and ETA, which drift. */
function changeKey(job: ProgressSnapshot): string {
  const p = job.progress;
  return [job.status, p.chunksDone, p.chunksTotal, p.rowsScored, p.rowsRejected].join('/');
}

export interface ProgressReporter<T = ProgressSnapshot> {
  /** Shows the latest state. */
  update(state: T): void;
  /** Leaves the line (a TTY's redrawn line is cleared); safe twice. */
  end(): void;
}

/**
 * Lines of progress on `stream` (stderr), each `render`ed from a state: on a terminal one line redrawn in
 * place; otherwise (a log, a pipe) one line each time `changeKeyOf` changes, so a CI log reads as a history
 * rather than a wall of carriage returns.
 */
export function makeLineReporter<T>(
  stream: OutputStream,
  render: (state: T) => string,
  changeKeyOf: (state: T) => string,
): ProgressReporter<T> {
  let last: string | undefined;
  let drawn = false;
  return {
    update(state) {
      if (stream.isTTY) {
        stream.write(`\r\x1b[2K${render(state)}`);
        drawn = true;
        return;
      }
      const key = changeKeyOf(state);
      if (key === last) return;
      last = key;
      stream.write(`${render(state)}\n`);
    },
    end() {
      if (drawn) stream.write('\r\x1b[2K');
      drawn = false;
    },
  };
}

/** A job's progress on `stream` (stderr), as {@link makeLineReporter} draws it. */
export function makeProgressReporter(stream: OutputStream): ProgressReporter {
  return makeLineReporter(stream, renderProgressLine, changeKey);
}

/** A reporter that shows nothing (`--quiet`). */
export const silentProgress: ProgressReporter<unknown> = { update: () => undefined, end: () => undefined };
