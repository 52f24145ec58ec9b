import { describe, expect, it } from 'vitest';
import { InvalidJobTransition } from '../../../jobs/errors/invalid-job-transition.js';
import { assertTransition, canRetry, canTransition, isTerminal } from '../../../jobs/job-state.js';
import { jobStatusSchema, type JobStatus } from '../../../schemas/job-record.js';

const allowed: Record<JobStatus, JobStatus[]> = {
  queued: ['planning', 'cancelling', 'failed', 'expired'],
  planning: ['running', 'failed', 'cancelling', 'finalizing'],
  running: ['finalizing', 'failed', 'cancelling'],
  finalizing: ['succeeded', 'failed'],
  cancelling: ['cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
  expired: [],
};
const statuses = jobStatusSchema.options;
const pairs = statuses.flatMap((from) => statuses.map((to) => [from, to] as const));

describe('job state machine', () => {
  it.each(pairs)('%s → %s', (from, to) => {
    const ok = allowed[from].includes(to);
    expect(canTransition(from, to)).toBe(ok);
    if (ok) {
      expect(() => assertTransition(from, to)).not.toThrow();
    } else {
      expect(() => assertTransition(from, to)).toThrow(InvalidJobTransition);
    }
  });

  it('names both states, the job and a stable code when refusing', () => {
    try {
      assertTransition('succeeded', 'running', 'job-1');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidJobTransition);
      const refused = error as InvalidJobTransition;
      expect(refused.code).toBe('JOB_INVALID_TRANSITION');
      expect([refused.from, refused.to]).toEqual(['succeeded', 'running']);
      expect(refused.message).toContain('succeeded');
      expect(refused.message).toContain('running');
      expect(refused.message).toContain('job-1');
    }
  });

  it('knows the terminal states', () => {
    expect(statuses.filter(isTerminal)).toEqual(['succeeded', 'failed', 'cancelled', 'expired']);
  });

  it('retries only failed and cancelled jobs, never through a plain transition', () => {
    expect(statuses.filter(canRetry)).toEqual(['failed', 'cancelled']);
    for (const from of statuses.filter(canRetry)) expect(canTransition(from, 'queued')).toBe(false);
  });

  it('reaches a terminal state from every state', () => {
    for (const start of statuses) {
      const seen = new Set<JobStatus>([start]);
      const queue = [start];
      for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
        for (const next of statuses) {
          if (canTransition(s, next) && !seen.has(next)) {
            seen.add(next);
            queue.push(next);
          }
        }
      }
      expect([...seen].some(isTerminal)).toBe(true);
    }
  });
});
