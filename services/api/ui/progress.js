/** A job's progress as one number and one line, the same on the list and on the job page. */
import { progressBar } from './dom.js';
import { count, duration, number } from './format.js';

/**
 * Fraction done: rows done (scored + rejected) of the input's rows when planning knows them, else chunks
 * done of chunks planned; a succeeded job is whole.
 */
export function fractionDone(job) {
  const p = job.progress;
  if (job.status === 'succeeded') return 1;
  if (typeof p.rowsTotal === 'number' && p.rowsTotal > 0)
    return (p.rowsScored + p.rowsRejected) / p.rowsTotal;
  return p.chunksTotal > 0 ? p.chunksDone / p.chunksTotal : 0;
}

/** The bar with `42% · 10/24 chunks`. */
export function jobProgressBar(job) {
  const p = job.progress;
  const percent = Math.floor(fractionDone(job) * 100);
  const chunks = p.chunksTotal > 0 ? ` · ${count(p.chunksDone)}/${count(p.chunksTotal)} chunks` : '';
  return progressBar(fractionDone(job), `${percent}%${chunks}`, job.status);
}

/** `2,400 rows/s` (a decimal only under 100), or `–` before any row is scored. */
export function rowsPerSecond(value) {
  if (!(value > 0)) return '–';
  return `${value >= 100 ? count(value) : number(value)} rows/s`;
}

export const rate = (job) => rowsPerSecond(job.progress.rowsPerSecond);

/** Time left while the job runs; `–` when unknown or done. */
export function eta(job) {
  if (!['running', 'planning', 'queued'].includes(job.status)) return '–';
  return job.progress.etaSeconds === null ? '–' : duration(job.progress.etaSeconds);
}
