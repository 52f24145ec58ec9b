import { describe, expect, it } from 'vitest';
import { RetryScheduleInvalid } from '../../../jobs/deliver/errors/retry-schedule-invalid.js';
import {
  DEFAULT_MAX_RETRY_AFTER_MS,
  DEFAULT_RETRY_SCHEDULE,
  decideNextAttempt,
  parseRetrySchedule,
  type RetryPolicy,
} from '../../../jobs/deliver/retry-policy.js';
import { parseRetryAfter } from '../../../services/delivery/send-webhook.js';
import { thrown } from '../../helpers/thrown.js';

const policy: RetryPolicy = { scheduleMs: [1_000, 10_000, 100_000] };
const status = (statusCode: number, retryAfterSeconds?: number) =>
  ({
    kind: 'response',
    statusCode,
    ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
  }) as const;
const middle = () => 0.5;

describe('retry schedule', () => {
  it('parses durations in ms, s, m, h and d', () => {
    expect(parseRetrySchedule('5s,5m,30m,2h')).toEqual([5_000, 300_000, 1_800_000, 7_200_000]);
    expect(parseRetrySchedule(' 50ms, 1.5s ,1d')).toEqual([50, 1_500, 86_400_000]);
  });

  it.each(['', ' , ', '5x', '0s', '-1s', '5s,,5m', '5', 's'])('refuses %j, naming the entry', (text) => {
    const error = thrown(RetryScheduleInvalid, () => parseRetrySchedule(text));
    expect(error.code).toBe('WEBHOOK_RETRY_SCHEDULE_INVALID');
    expect(error.message).toContain(JSON.stringify(text));
  });

  it('defaults to growing delays totalling about three days', () => {
    const schedule = parseRetrySchedule(DEFAULT_RETRY_SCHEDULE);
    const totalDays = schedule.reduce((a, b) => a + b, 0) / 86_400_000;
    expect(totalDays).toBeGreaterThan(2.5);
    expect(totalDays).toBeLessThan(3.5);
    for (let i = 1; i < schedule.length; i++) expect(schedule[i]).toBeGreaterThanOrEqual(schedule[i - 1]!);
  });
});

describe('what follows an attempt', () => {
  it('2xx delivers, 410 disables, a refused URL is refused: no more attempts', () => {
    expect(decideNextAttempt(status(200), 1, policy)).toEqual({ status: 'delivered' });
    expect(decideNextAttempt(status(204), 3, policy)).toEqual({ status: 'delivered' });
    expect(decideNextAttempt(status(410), 1, policy)).toEqual({ status: 'disabled' });
    expect(decideNextAttempt({ kind: 'refused', error: 'x' }, 1, policy)).toEqual({ status: 'refused' });
  });

  it('any other answer, a redirect or no answer waits the schedule’s next delay', () => {
    for (const outcome of [
      status(500),
      status(429),
      status(302),
      status(404),
      { kind: 'network-error', error: 'connect ECONNREFUSED' } as const,
    ]) {
      expect(decideNextAttempt(outcome, 1, policy, middle)).toEqual({ status: 'pending', delayMs: 1_000 });
      expect(decideNextAttempt(outcome, 3, policy, middle)).toEqual({ status: 'pending', delayMs: 100_000 });
    }
  });

  it('fails once the schedule is spent', () => {
    expect(decideNextAttempt(status(500), 4, policy, middle)).toEqual({ status: 'failed' });
    expect(decideNextAttempt(status(500), 1, { scheduleMs: [] })).toEqual({ status: 'failed' });
  });

  it('moves each delay by at most ±20% at random', () => {
    const delay = (r: number) => decideNextAttempt(status(503), 2, policy, () => r);
    expect(delay(0)).toEqual({ status: 'pending', delayMs: 8_000 });
    expect(delay(0.999_999)).toEqual({ status: 'pending', delayMs: 12_000 });
    expect(decideNextAttempt(status(503), 2, { ...policy, jitter: 0 }, () => 0)).toEqual({
      status: 'pending',
      delayMs: 10_000,
    });
    const seen = new Set(
      Array.from({ length: 50 }, () => JSON.stringify(decideNextAttempt(status(503), 2, policy))),
    );
    expect(seen.size).toBeGreaterThan(1);
  });

  it('waits at least as long as Retry-After asks, capped', () => {
    expect(decideNextAttempt(status(429, 30), 1, policy, () => 0.999)).toEqual({
      status: 'pending',
      delayMs: 30_000,
    });
    // Shorter than the schedule: the schedule stands.
    expect(decideNextAttempt(status(503, 1), 3, policy, middle)).toEqual({
      status: 'pending',
      delayMs: 100_000,
    });
    expect(decideNextAttempt(status(429, 10 * 86_400), 1, policy, middle)).toEqual({
      status: 'pending',
      delayMs: DEFAULT_MAX_RETRY_AFTER_MS,
    });
    expect(decideNextAttempt(status(429, 600), 1, { ...policy, maxRetryAfterMs: 60_000 }, middle)).toEqual({
      status: 'pending',
      delayMs: 60_000,
    });
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = new Date('2026-11-28T01:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120);
    expect(parseRetryAfter('Sat, 28 Nov 2026 01:00:30 GMT', now)).toBe(30);
    expect(parseRetryAfter('Fri, 27 Nov 2026 01:00:30 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
  });
});
