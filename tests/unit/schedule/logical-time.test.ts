import { describe, expect, it } from 'vitest';
import { backfillTicks, runNowTick } from '../../../jobs/schedule/backfill.js';
import { formatLogicalTime, readTimeInZone } from '../../../jobs/schedule/logical-time.js';
import { renderTemplate, templateVars } from '../../../jobs/schedule/render-template.js';
import { dueTicks, nextTicks, ticksBetween } from '../../../jobs/schedule/schedule-ticks.js';
import { parseSchedule } from '../../../jobs/schedule/parse-schedule.js';
import { ScheduleInvalid } from '../../../schemas/errors/schedule-invalid.js';
import { thrown } from '../../helpers/thrown.js';

const iso = (d: Date) => d.toISOString();
const daily = (timezone: string) => ({ cron: '30 2 * * *', timezone });

describe('fire times and logical times across DST (a 02:30 daily schedule)', () => {
  it('Europe/Berlin, spring forward (29 March 2026, 02:00 → 03:00): the skipped 02:30 fires at 03:30, once', () => {
    const ticks = nextTicks(daily('Europe/Berlin'), new Date('2026-03-27T12:00:00Z'), 3);
    expect(ticks.map(iso)).toEqual([
      '2026-03-28T01:30:00.000Z',
      '2026-03-29T01:30:00.000Z', // 03:30 CEST: 02:30 does not exist that night
      '2026-03-30T00:30:00.000Z',
    ]);
    expect(ticks.map((t) => formatLogicalTime(t, 'Europe/Berlin'))).toEqual([
      '2026-03-28T02:30+01:00',
      '2026-03-29T03:30+02:00',
      '2026-03-30T02:30+02:00',
    ]);
    // The skipped night is still its own day, and yesterday is the 28th.
    expect(templateVars(ticks[1]!, 'Europe/Berlin')).toMatchObject({ date: '2026-03-29', hour: '03' });
    expect(templateVars(ticks[1]!, 'Europe/Berlin', { amount: -1, unit: 'd' }).date).toBe('2026-03-28');
    // An hour before 03:30 CEST is 01:30 CET: the hour 02 never happened.
    expect(templateVars(ticks[1]!, 'Europe/Berlin', { amount: -1, unit: 'h' }).hour).toBe('01');
  });

  it('Europe/Berlin, fall back (25 October 2026, 03:00 → 02:00): the repeated 02:30 fires once, at its first occurrence', () => {
    const ticks = nextTicks(daily('Europe/Berlin'), new Date('2026-10-24T12:00:00Z'), 2);
    expect(ticks.map(iso)).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
    expect(formatLogicalTime(ticks[0]!, 'Europe/Berlin')).toBe('2026-10-25T02:30+02:00');
    expect(formatLogicalTime(ticks[1]!, 'Europe/Berlin')).toBe('2026-10-26T02:30+01:00');
    // The 25-hour day: a day back from the 26th 02:30 CET is the 25th 02:30, its first (CEST) reading.
    expect(templateVars(ticks[1]!, 'Europe/Berlin', { amount: -1, unit: 'd' })).toMatchObject({
      date: '2026-10-25',
      datetime: '2026-10-25T00:30:00.000Z',
    });
    // Hourly on that night: every real hour once, the repeated 02:00 twice with two logical times.
    const hourly = ticksBetween(
      { cron: '0 * * * *', timezone: 'Europe/Berlin' },
      new Date('2026-10-24T22:30:00Z'),
      new Date('2026-10-25T02:30:00Z'),
      100,
    ).ticks.map((t) => formatLogicalTime(t, 'Europe/Berlin'));
    expect(hourly).toEqual([
      '2026-10-25T01:00+02:00',
      '2026-10-25T02:00+02:00',
      '2026-10-25T02:00+01:00',
      '2026-10-25T03:00+01:00',
    ]);
  });

  it('America/New_York, spring forward (8 March 2026) and fall back (1 November 2026)', () => {
    const spring = nextTicks(daily('America/New_York'), new Date('2026-03-07T12:00:00Z'), 2);
    expect(spring.map((t) => formatLogicalTime(t, 'America/New_York'))).toEqual([
      '2026-03-08T03:30-04:00',
      '2026-03-09T02:30-04:00',
    ]);
    expect(templateVars(spring[0]!, 'America/New_York', { amount: -1, unit: 'd' }).date).toBe('2026-03-07');
    const fall = nextTicks(daily('America/New_York'), new Date('2026-10-31T12:00:00Z'), 2);
    expect(fall.map((t) => formatLogicalTime(t, 'America/New_York'))).toEqual([
      '2026-11-01T02:30-05:00',
      '2026-11-02T02:30-05:00',
    ]);
    // 01:30 happens twice on 1 November: the schedule runs once, at the first (EDT).
    const early = nextTicks(
      { cron: '30 1 * * *', timezone: 'America/New_York' },
      new Date('2026-10-31T12:00:00Z'),
      2,
    );
    expect(early.map(iso)).toEqual(['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z']);
    // Six hours before 02:30 EST on the 25-hour day is 21:30 EDT the evening before.
    expect(templateVars(fall[0]!, 'America/New_York', { amount: -6, unit: 'h' })).toMatchObject({
      date: '2026-10-31',
      hour: '21',
      datetime: '2026-11-01T01:30:00.000Z',
    });
  });
});

describe('placeholders with offsets', () => {
  const at = new Date('2026-03-01T01:30:00Z'); // 02:30 in Berlin, 1 March

  it('renders yesterday’s partition, its parts, hours and shifted times', () => {
    const { rendered, problems } = renderTemplate(
      {
        input: 'file:///data/dt={date-1d}/',
        parts: '{yyyy-1d}/{mm-1d}/{dd-1d}',
        tomorrow: '{date+1d}',
        week: '{date-1w}',
        hour: 'h={hour}/prev={hour-1h}',
        at: '{datetime-6h}',
        re: '^f\\d{2}$',
      },
      at,
      'Europe/Berlin',
    );
    expect(problems).toEqual([]);
    expect(rendered).toEqual({
      input: 'file:///data/dt=2026-02-28/',
      parts: '2026/02/28',
      tomorrow: '2026-03-02',
      week: '2026-02-22',
      hour: 'h=02/prev=01',
      at: '2026-02-28T19:30:00.000Z',
      re: '^f\\d{2}$',
    });
  });

  it('reports an unknown placeholder or offset with its path', () => {
    const { problems } = renderTemplate({ a: '{date-1y}', b: ['{date-1}'], c: '{day-1d}' }, at, 'UTC');
    expect(problems.map((p) => p.path)).toEqual(['a', 'b[0]', 'c']);
    expect(problems[0]?.message).toContain('unknown offset in {date-1y}');
    expect(problems[2]?.message).toContain('unknown placeholder {day-1d}');
  });
});

describe('catch-up (dueTicks): scheduler stopped for 3 days', () => {
  const lastRun = new Date('2026-03-01T02:30:00Z');
  const now = new Date('2026-03-04T10:00:00Z');
  const base = {
    ...daily('UTC'),
    catchUpWindowMs: 3 * 86_400_000,
    lastLogicalAt: lastRun,
    createdAt: new Date('2026-02-01T00:00:00Z'),
    now,
  };
  const missed = (input: Partial<typeof base> & { catchUp: 'none' | 'latest' | 'all' }) =>
    dueTicks({ ...base, ...input }).missed.map(iso);

  it('none → 0, latest → the newest, all → every missed tick, oldest first', () => {
    expect(missed({ catchUp: 'none' })).toEqual([]);
    expect(missed({ catchUp: 'latest' })).toEqual(['2026-03-04T02:30:00.000Z']);
    expect(missed({ catchUp: 'all' })).toEqual([
      '2026-03-02T02:30:00.000Z',
      '2026-03-03T02:30:00.000Z',
      '2026-03-04T02:30:00.000Z',
    ]);
  });

  it('respects the window, the last run and the schedule’s creation', () => {
    expect(missed({ catchUp: 'all', catchUpWindowMs: 24 * 3600_000 })).toEqual(['2026-03-04T02:30:00.000Z']);
    expect(missed({ catchUp: 'all', lastLogicalAt: new Date('2026-03-03T02:30:00Z') })).toEqual([
      '2026-03-04T02:30:00.000Z',
    ]);
    expect(missed({ catchUp: 'all', createdAt: new Date('2026-03-03T12:00:00Z') })).toEqual([
      '2026-03-04T02:30:00.000Z',
    ]);
    // Stopped for 5 days with the default 3-day window: only the last 3.
    expect(missed({ catchUp: 'all', lastLogicalAt: new Date('2026-02-27T02:30:00Z') })).toHaveLength(3);
  });

  it('a tick due within the last minute is on time whatever the policy, and then latest adds nothing else', () => {
    const onTime = new Date('2026-03-04T02:30:20Z');
    for (const catchUp of ['none', 'latest'] as const) {
      const due = dueTicks({ ...base, catchUp, now: onTime });
      expect(due.onTime.map(iso)).toEqual(['2026-03-04T02:30:00.000Z']);
      expect(due.missed).toEqual([]);
    }
    expect(dueTicks({ ...base, catchUp: 'all', now: onTime }).missed).toHaveLength(2);
    // Per second, the ticks BullMQ left out of the last minute are runs of their own.
    const seconds = dueTicks({
      ...base,
      cron: '* * * * * *',
      catchUp: 'none',
      lastLogicalAt: new Date('2026-03-04T10:00:00Z'),
      now: new Date('2026-03-04T10:00:04Z'),
    });
    expect(seconds.onTime).toHaveLength(4);
  });
});

describe('backfill and run-now ticks', () => {
  const pattern = daily('Europe/Berlin');
  const now = new Date('2026-04-01T12:00:00Z');

  it('one tick per day of an inclusive range of dates, read in the zone, oldest first', () => {
    const ticks = backfillTicks(pattern, '2026-03-28', '2026-03-30', now);
    expect(ticks.map((t) => formatLogicalTime(t, 'Europe/Berlin'))).toEqual([
      '2026-03-28T02:30+01:00',
      '2026-03-29T03:30+02:00',
      '2026-03-30T02:30+02:00',
    ]);
    // Times: the local one in the zone, the other with its offset.
    expect(backfillTicks(pattern, '2026-03-28T02:30', '2026-03-29T01:30Z', now)).toHaveLength(2);
  });

  it('refuses a reversed, unreadable, future or too long range, at its field', () => {
    const paths = (from: string, to: string) =>
      [...thrown(ScheduleInvalid, () => backfillTicks(pattern, from, to, now)).problems].map((p) => p.path);
    expect(paths('2026-03-30', '2026-03-28')).toEqual(['to']);
    expect(paths('yesterday', '2026-02-30')).toEqual(['from', 'to']);
    expect(paths('2026-05-01', '2026-05-02')).toEqual(['from']);
    expect(paths('2025-01-01', '2026-03-01')).toEqual(['to']);
    expect(
      thrown(ScheduleInvalid, () => backfillTicks(pattern, '2025-01-01', '2026-03-01', now)).message,
    ).toContain('more than 366 ticks');
    // 366 days is the most.
    expect(backfillTicks({ ...pattern, timezone: 'UTC' }, '2025-03-01', '2026-03-01', now)).toHaveLength(366);
  });

  it('run-now takes the latest tick, or the one of a given day or before a given time', () => {
    expect(iso(runNowTick(pattern, undefined, now))).toBe('2026-04-01T00:30:00.000Z');
    expect(iso(runNowTick(pattern, '2026-03-29', now))).toBe('2026-03-29T01:30:00.000Z');
    expect(iso(runNowTick(pattern, '2026-03-30T01:00', now))).toBe('2026-03-29T01:30:00.000Z');
    expect([...thrown(ScheduleInvalid, () => runNowTick(pattern, '2027-01-01', now)).problems][0]?.path).toBe(
      'at',
    );
  });

  it('readTimeInZone reads days in the zone (23 hours on a spring-forward day)', () => {
    const day = readTimeInZone('2026-03-29', 'Europe/Berlin')!;
    expect(iso(day.start)).toBe('2026-03-28T23:00:00.000Z');
    expect(day.end.getTime() - day.start.getTime() + 1).toBe(23 * 3600_000);
    expect(readTimeInZone('2026-02-30', 'UTC')).toBeUndefined();
  });
});

describe('parseSchedule: the new fields', () => {
  const job = {
    input: { uri: 'file:///data/dt={date-1d}/h={hour-1h}/', format: 'parquet' },
    model: { uri: 'file:///m.onnx', inputs: { features: { columns: ['f0'] } } },
    output: { uri: 'file:///scores/' },
  };
  it('takes catchUp, catchUpWindow and maxActiveRuns, and refuses bad ones with their paths', () => {
    expect(
      parseSchedule({
        name: 'n',
        cron: '0 * * * *',
        job,
        catchUp: 'all',
        catchUpWindow: 'PT12H',
        maxActiveRuns: 3,
      }),
    ).toMatchObject({ catchUp: 'all', catchUpWindow: 'PT12H', maxActiveRuns: 3 });
    const error = thrown(ScheduleInvalid, () =>
      parseSchedule({
        name: 'n',
        cron: '0 * * * *',
        job: { ...job, output: { uri: 'file:///scores/{date-1q}/' } },
        catchUp: 'some',
        catchUpWindow: 'P1Y',
        maxActiveRuns: 0,
      }),
    );
    expect([...error.problems].map((p) => p.path).sort()).toEqual(
      ['catchUp', 'catchUpWindow', 'job.output.uri', 'maxActiveRuns'].sort(),
    );
  });
});
