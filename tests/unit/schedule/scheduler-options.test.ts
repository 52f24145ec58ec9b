import { describe, expect, it } from 'vitest';
import { InvalidConfig } from '../../../schemas/errors/invalid-config.js';
import { loadSchedulerConfig, schedulerDefaults } from '../../../services/scheduler/scheduler-options.js';

const DAY_MS = 24 * 60 * 60 * 1000;

describe('scheduler options', () => {
  it('keeps ended jobs 30 days by default, hourly sweeps', () => {
    const { scheduler } = loadSchedulerConfig([], {});
    expect(scheduler).toEqual(schedulerDefaults);
    expect(scheduler.jobRetentionMs).toBe(30 * DAY_MS);
    expect(scheduler.retentionSweepMs).toBe(60 * 60 * 1000);
  });

  it('reads QUIVER_JOB_RETENTION_DAYS as days (fractions too), or off', () => {
    expect(loadSchedulerConfig([], { QUIVER_JOB_RETENTION_DAYS: '7' }).scheduler.jobRetentionMs).toBe(
      7 * DAY_MS,
    );
    expect(loadSchedulerConfig([], { QUIVER_JOB_RETENTION_DAYS: '0.5' }).scheduler.jobRetentionMs).toBe(
      DAY_MS / 2,
    );
    expect(
      loadSchedulerConfig([], { QUIVER_JOB_RETENTION_DAYS: 'OFF' }).scheduler.jobRetentionMs,
    ).toBeUndefined();
  });

  it.each(['0', '-3', 'forever', '30d', 'Infinity'])(
    'refuses QUIVER_JOB_RETENTION_DAYS=%s, naming it',
    (value) => {
      const load = () => loadSchedulerConfig([], { QUIVER_JOB_RETENTION_DAYS: value });
      expect(load).toThrow(InvalidConfig);
      expect(load).toThrow(/^Invalid QUIVER_JOB_RETENTION_DAYS: expected a positive number of days or "off"/);
    },
  );
});
