import { describe, expect, it } from 'vitest';
import { describeJob, summarizeOutcome } from '../../../services/cli/job-text.js';
import {
  makeProgressReporter,
  renderProgressBar,
  renderProgressLine,
} from '../../../services/cli/progress.js';
import { captureStream, jobView } from './fixtures.js';

const progress = (over: Partial<ReturnType<typeof jobView>['progress']> = {}) => ({
  ...jobView().progress,
  ...over,
});

describe('progress rendering', () => {
  it('fills the bar with chunks done, empty until the job is planned', () => {
    expect(renderProgressBar(progress({ chunksTotal: 0, chunksDone: 0 }), 10)).toBe('[----------]');
    expect(renderProgressBar(progress({ chunksTotal: 10, chunksDone: 4 }), 10)).toBe('[####------]');
    expect(renderProgressBar(progress({ chunksTotal: 3, chunksDone: 3 }), 10)).toBe('[##########]');
  });

  it('shows chunks, rows, rows/s and ETA on one line; rejected rows only when there are some', () => {
    const line = renderProgressLine(jobView());
    expect(line).toBe(
      '[##########--------------]  running     4/10 chunks  2,000,000 rows  250k rows/s  ETA 12s',
    );
    const unknown = renderProgressLine(
      jobView({
        status: 'planning',
        progress: progress({ rowsRejected: 3, etaSeconds: null, rowsPerSecond: 0 }),
      }),
    );
    expect(unknown).toContain('3 rejected');
    expect(unknown).toContain('0 rows/s');
    expect(unknown).toContain('ETA --');
  });

  it('redraws one line in place on a terminal and clears it at the end', () => {
    const tty = captureStream(true);
    const reporter = makeProgressReporter(tty);
    reporter.update(jobView());
    reporter.update(jobView());
    reporter.end();
    reporter.end();
    expect(tty.chunks).toHaveLength(3);
    expect(tty.chunks[0]).toMatch(/^\r\x1b\[2K\[#+-+\] {2}running/);
    expect(tty.text).not.toContain('\n');
    expect(tty.chunks[2]).toBe('\r\x1b[2K');
  });

  it('prints one line per change when not a terminal, ignoring rate and ETA drift', () => {
    const log = captureStream(false);
    const reporter = makeProgressReporter(log);
    reporter.update(jobView());
    reporter.update(jobView({ progress: progress({ rowsPerSecond: 1, etaSeconds: 99 }) }));
    reporter.update(jobView({ progress: progress({ chunksDone: 5, rowsScored: 2_500_000 }) }));
    reporter.update(
      jobView({ status: 'finalizing', progress: progress({ chunksDone: 5, rowsScored: 2_500_000 }) }),
    );
    reporter.end();
    expect(log.chunks).toHaveLength(3);
    expect(log.text).not.toContain('\r');
    expect(log.chunks.every((c) => c.endsWith('\n'))).toBe(true);
  });

  it('summarizes the outcome: rows and manifest on success, the error code on failure', () => {
    const done = jobView({
      status: 'succeeded',
      finishedAt: '2026-11-28T01:01:06.000Z',
      output: { uri: 'file:///scores/job-1/', manifestUri: 'file:///scores/job-1/_manifest.json' },
      progress: progress({ chunksDone: 10, rowsScored: 5_000_000, rowsRejected: 2 }),
    });
    expect(summarizeOutcome(done)).toBe(
      'job job-1 succeeded: 5,000,000 rows scored, 2 rejected in 1m05s → file:///scores/job-1/_manifest.json',
    );
    const failed = jobView({
      status: 'failed',
      error: { code: 'FEATURE_COLUMN_MISSING', message: 'no column "f3"', chunk: 0 },
    });
    expect(summarizeOutcome(failed)).toBe(
      'job job-1 failed: FEATURE_COLUMN_MISSING: no column "f3" (chunk 0)',
    );
    expect(summarizeOutcome(jobView({ status: 'cancelled' }))).toBe('job job-1 cancelled after 4/10 chunks');
  });

  it('describes a job for `quiver status`, one labelled line per known fact', () => {
    const text = describeJob(jobView({ spec: { ...jobView().spec, labels: { team: 'risk' } } }));
    expect(text).toContain('id        job-1\n');
    expect(text).toContain('status    running\n');
    expect(text).toContain('input     file:///data/in.parquet (parquet)\n');
    expect(text).toContain('labels    team=risk\n');
    expect(text).not.toContain('finished');
    expect(text).not.toContain('error');
  });
});
