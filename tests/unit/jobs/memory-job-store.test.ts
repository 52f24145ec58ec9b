import { describe, expect, it } from 'vitest';
import { InvalidJobTransition } from '../../../jobs/errors/invalid-job-transition.js';
import { JobNotFound } from '../../../jobs/ports/errors/job-not-found.js';
import { TooManyActiveJobs } from '../../../jobs/ports/errors/too-many-active-jobs.js';
import { fakeJobSpec } from '../../helpers/memory-ports/fake-job-spec.js';
import { makeMemoryJobEvents } from '../../helpers/memory-ports/memory-job-events.js';
import { makeMemoryJobStore } from '../../helpers/memory-ports/memory-job-store.js';

/** The fake the processor tests stand on keeps the Redis store's rules (services/queue/lua/job-*.lua). */
async function runningJob(inputRows?: number) {
  const events = makeMemoryJobEvents();
  const store = makeMemoryJobStore({ events });
  const { record } = await store.create(fakeJobSpec());
  await store.transition(record.id, 'planning');
  await store.setPlan(record.id, { chunksTotal: 2, ...(inputRows === undefined ? {} : { inputRows }) });
  await store.transition(record.id, 'running');
  return { store, events, id: record.id };
}

describe('makeMemoryJobStore', () => {
  it('fences attempts: only the current attempt of a running job appends segments and commits', async () => {
    const { store, id } = await runningJob();
    expect(await store.beginAttempt(id, 0, 'a1')).toEqual({ state: 'started', segments: [] });
    expect(await store.acceptSegment(id, 0, 'a1', 'r0-a1')).toBe('current');
    expect(await store.beginAttempt(id, 0, 'a2')).toEqual({ state: 'started', segments: ['r0-a1'] });
    expect(await store.attemptState(id, 0, 'a1')).toBe('superseded');
    // A resent append of an accepted ref is accepted again, even from a superseded attempt.
    expect(await store.acceptSegment(id, 0, 'a1', 'r0-a1')).toBe('current');
    expect(await store.acceptSegment(id, 0, 'a1', 'r4-a1')).toBe('superseded');
    const stale = await store.commitChunk(id, 0, { rows: 1, rejected: 0, attempt: 'a1' });
    expect(stale).toMatchObject({ outcome: 'stale', first: false, chunksDone: 0 });
    const counted = await store.commitChunk(id, 0, { rows: 5, rejected: 1, attempt: 'a2' });
    expect(counted).toEqual({
      outcome: 'accepted',
      first: true,
      chunksDone: 1,
      chunksTotal: 2,
      overLimit: false,
    });
    const resent = await store.commitChunk(id, 0, { rows: 5, rejected: 1, attempt: 'a2' });
    expect(resent).toMatchObject({ outcome: 'accepted', first: false, chunksDone: 1 });
    expect(await store.commitChunk(id, 0, { rows: 5, rejected: 0, attempt: 'a3' })).toMatchObject({
      outcome: 'duplicate',
    });
    expect(await store.attemptState(id, 0, 'a2')).toBe('committed');
    expect(await store.beginAttempt(id, 0, 'a4')).toEqual({ state: 'committed' });
    expect((await store.get(id))?.progress).toMatchObject({ chunksDone: 1, rowsScored: 5, rowsRejected: 1 });
    expect(await store.acceptedCommits(id)).toEqual(new Map([[0, 'a2']]));
  });

  it('tells a stopped job apart, and adopts only while planning', async () => {
    const { store, id } = await runningJob();
    await store.beginAttempt(id, 1, 'a1');
    expect(await store.adoptChunk(id, 0, { rows: 1, rejected: 0, attempt: 'x' })).toMatchObject({
      outcome: 'stale',
    });
    await store.transition(id, 'cancelling');
    expect(await store.attemptState(id, 1, 'a1')).toBe('cancelling');
    expect(await store.beginAttempt(id, 1, 'a2')).toEqual({ state: 'stopped', status: 'cancelling' });
    expect(await store.attemptState('nope', 1, 'a1')).toBe('missing');
    await expect(store.commitChunk('nope', 0, { rows: 0, rejected: 0, attempt: 'a' })).rejects.toBeInstanceOf(
      JobNotFound,
    );
  });

  it('reports overLimit once refused rows pass the fraction of the input rows', async () => {
    const { store, id } = await runningJob(100);
    await store.beginAttempt(id, 0, 'a');
    await store.beginAttempt(id, 1, 'b');
    const under = await store.commitChunk(id, 0, {
      rows: 45,
      rejected: 5,
      attempt: 'a',
      maxInvalidFraction: 0.1,
    });
    expect(under.overLimit).toBe(false);
    const over = await store.commitChunk(id, 1, {
      rows: 44,
      rejected: 6,
      attempt: 'b',
      maxInvalidFraction: 0.1,
    });
    expect(over.overLimit).toBe(true);
  });

  it('follows the lifecycle, announces each move and keeps the active count', async () => {
    const { store, events, id } = await runningJob();
    let announced = 0;
    events.onStatusChange(id, () => (announced += 1));
    await expect(store.transition(id, 'queued')).rejects.toBeInstanceOf(InvalidJobTransition);
    const same = await store.transition(id, 'running', { manifestUri: 'file:///ignored' });
    expect(same.output.manifestUri).toBeUndefined();
    expect(announced).toBe(0);
    expect(await store.countActive('default')).toBe(1);
    const failed = await store.transition(id, 'failed', { error: { code: 'X', message: 'x' } });
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'X' } });
    expect(failed.finishedAt).toBeDefined();
    expect(announced).toBe(1);
    expect(await store.countActive('default')).toBe(0);
  });

  it('refuses a create past the tenant limit of active jobs', async () => {
    const store = makeMemoryJobStore();
    await store.create(fakeJobSpec(), { tenant: 't', maxActiveJobs: 1 });
    await expect(store.create(fakeJobSpec(), { tenant: 't', maxActiveJobs: 1 })).rejects.toBeInstanceOf(
      TooManyActiveJobs,
    );
    await expect(store.create(fakeJobSpec(), { tenant: 'u', maxActiveJobs: 1 })).resolves.toMatchObject({
      created: true,
    });
  });

  it('pages newest first with cursors', async () => {
    let ms = Date.parse('2026-01-01T00:00:00.000Z');
    const store = makeMemoryJobStore({ now: () => new Date((ms += 1000)) });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await store.create(fakeJobSpec())).record.id);
    const first = await store.list({ limit: 2 });
    expect(first.jobs.map((j) => j.id)).toEqual([ids[4], ids[3]]);
    const second = await store.list({ limit: 2, cursor: first.nextCursor! });
    expect(second.jobs.map((j) => j.id)).toEqual([ids[2], ids[1]]);
    const last = await store.list({ limit: 2, cursor: second.nextCursor! });
    expect(last).toEqual({ jobs: [expect.objectContaining({ id: ids[0] })], nextCursor: null });
  });
});
