import { describe, expect, it } from 'vitest';
import { describeJob, describeUsage } from '../../../services/cli/job-text.js';
import { jobView } from './fixtures.js';

const usage = {
  cpuSeconds: 12.44,
  deviceSeconds: 9.8,
  bytesRead: 1_250_000_000,
  bytesWritten: 310_000_000,
  scoringSeconds: 21,
  rowsPerSecond: 48_213.4,
  retries: 1,
  supersededAttempts: 0,
};

describe('quiver status: usage', () => {
  it('one line: CPU, device, bytes each way, the rate over the scoring time, retries and superseded', () => {
    expect(describeUsage(usage)).toMatch(
      /^cpu 12\.4s, device 9\.8s, read 1\.16 GiB, wrote 296 MiB, 48,213 rows\/s over 21s, 1 retry, 0 superseded$/,
    );
    expect(describeUsage({ ...usage, retries: 3 })).toContain('3 retries');
  });

  it('is a line of `quiver status` once the job has usage, and absent before', () => {
    expect(describeJob(jobView({ usage }))).toMatch(/^usage {5}cpu 12\.4s, /m);
    expect(describeJob(jobView())).not.toMatch(/^usage/m);
  });
});
