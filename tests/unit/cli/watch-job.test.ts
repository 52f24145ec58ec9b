import { describe, expect, it } from 'vitest';
import type { JobView } from '../../../schemas/job-record.js';
import type { ApiClient } from '../../../services/cli/api-client.js';
import { ApiRequestError } from '../../../services/cli/errors/api-request-error.js';
import { ApiUnreachable } from '../../../services/cli/errors/api-unreachable.js';
import { watchJob } from '../../../services/cli/watch-job.js';
import { jobView } from './fixtures.js';

/** A client whose getJob answers from a script of views (or errors), recording each wait asked for. */
function scriptedClient(script: Array<JobView | Error>) {
  const waits: Array<number | undefined> = [];
  const client = {
    baseUrl: 'http://api.test',
    getJob(_id: string, options: { waitSeconds?: number } = {}) {
      waits.push(options.waitSeconds);
      const next = script.shift();
      if (next === undefined) throw new Error('script ran out');
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
    },
  } as unknown as ApiClient;
  return { client, waits };
}

function fakeClock() {
  let t = 0;
  const slept: number[] = [];
  return {
    now: () => t,
    sleep: (ms: number) => {
      slept.push(ms);
      t += ms;
      return Promise.resolve();
    },
    advance: (ms: number) => (t += ms),
    slept,
  };
}

describe('watchJob', () => {
  it('long-polls until the job ends, reporting every state', async () => {
    const { client, waits } = scriptedClient([
      jobView({ status: 'queued' }),
      jobView({ status: 'planning' }),
      jobView({ status: 'running' }),
      jobView({ status: 'succeeded' }),
    ]);
    const seen: string[] = [];
    const clock = fakeClock();
    const result = await watchJob(client, 'job-1', {
      intervalSeconds: 3,
      onUpdate: (job) => seen.push(job.status),
      now: clock.now,
      sleep: clock.sleep,
    });
    expect(result.timedOut).toBe(false);
    expect(result.job.status).toBe('succeeded');
    expect(seen).toEqual(['queued', 'planning', 'running', 'succeeded']);
    expect(waits).toEqual([undefined, 3, 3, 3]);
    // Status changes come back at once: no waiting between them.
    expect(clock.slept).toEqual([]);
  });

  it('spaces out polls that come back at once without news', async () => {
    const { client } = scriptedClient([jobView(), jobView(), jobView({ status: 'failed' })]);
    const clock = fakeClock();
    await watchJob(client, 'job-1', { now: clock.now, sleep: clock.sleep });
    expect(clock.slept).toEqual([250]);
  });

  it('stops at the timeout with the last state seen', async () => {
    const clock = fakeClock();
    const views = Array.from({ length: 10 }, () => jobView());
    const { client, waits } = scriptedClient(views);
    const slowClient = {
      ...client,
      getJob: async (id: string, options?: { waitSeconds?: number }) => {
        const job = await client.getJob(id, options);
        clock.advance((options?.waitSeconds ?? 0) * 1000);
        return job;
      },
    };
    const result = await watchJob(slowClient, 'job-1', {
      intervalSeconds: 2,
      timeoutSeconds: 5,
      now: clock.now,
      sleep: clock.sleep,
    });
    expect(result).toMatchObject({ timedOut: true, job: { status: 'running' } });
    expect(waits).toEqual([undefined, 2, 2, 1]);
  });

  it('rides out an API restart, but not an error that will not pass', async () => {
    const clock = fakeClock();
    const down = new ApiUnreachable('http://api.test', 'ECONNREFUSED');
    const { client } = scriptedClient([
      jobView(),
      down,
      new ApiRequestError(503, 'HTTP_503', 'unavailable'),
      jobView({ status: 'succeeded' }),
    ]);
    const result = await watchJob(client, 'job-1', { now: clock.now, sleep: clock.sleep });
    expect(result.job.status).toBe('succeeded');
    expect(clock.slept).toEqual([1000, 2000]);

    const gone = scriptedClient([jobView(), new ApiRequestError(404, 'JOB_NOT_FOUND', 'no job')]);
    await expect(watchJob(gone.client, 'job-1', { now: clock.now, sleep: clock.sleep })).rejects.toThrow(
      'JOB_NOT_FOUND',
    );
    const stays = scriptedClient([jobView(), down, down, down]);
    await expect(
      watchJob(stays.client, 'job-1', { maxRetries: 2, now: clock.now, sleep: clock.sleep }),
    ).rejects.toBe(down);
  });
});
