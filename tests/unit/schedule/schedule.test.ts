import { describe, expect, it } from 'vitest';
import { cronProblem, nextRunAfter } from '../../../schemas/cron-pattern.js';
import { renderTemplate, templateVars } from '../../../jobs/schedule/render-template.js';
import { scheduleIdempotencyKey } from '../../../jobs/schedule/run-schedule.js';
import { ScheduleInvalid } from '../../../schemas/errors/schedule-invalid.js';
import { parseSchedule, renderScheduledSpec } from '../../../jobs/schedule/parse-schedule.js';
import { type ScheduleInput, type ScheduleRecord, toScheduleView } from '../../../schemas/schedule.js';
import { dueAtOf } from '../../../services/scheduler/scheduler-worker.js';
import { thrown } from '../../helpers/thrown.js';

const job = {
  name: 'nightly-{date}',
  input: { uri: 's3://events/dt={date}/', format: 'parquet' },
  model: { uri: 's3://models/fraud.onnx', inputs: { features: { columnsMatching: '^f\\d{1,3}$' } } },
  output: { uri: 's3://scores/{yyyy}/{mm}/{dd}/', passthrough: ['event_id'] },
  webhook: { url: 'https://example.com/hooks', secret: 'whsec_c2VjcmV0' },
  labels: { at: '{datetime}' },
};
const schedule: ScheduleInput = { name: 'nightly-fraud', cron: '30 2 * * *', job };

const problemsOf = (error: ScheduleInvalid) => [...error.problems];

describe('templateVars', () => {
  it('takes the day in the schedule’s time zone, across midnight both ways', () => {
    const at = new Date('2026-11-27T23:30:00Z');
    expect(templateVars(at, 'UTC')).toEqual({
      date: '2026-11-27',
      yyyy: '2026',
      mm: '11',
      dd: '27',
      hour: '23',
      minute: '30',
      datetime: '2026-11-27T23:30:00.000Z',
    });
    // 08:30 the next morning in Tokyo (UTC+9).
    expect(templateVars(at, 'Asia/Tokyo').date).toBe('2026-11-28');
    // 00:30 UTC on the 28th is still the 27th in Los Angeles (UTC-8).
    expect(templateVars(new Date('2026-11-28T00:30:00Z'), 'America/Los_Angeles').date).toBe('2026-11-27');
    // Year boundary, zero-padded months and days.
    expect(templateVars(new Date('2026-12-31T15:00:00Z'), 'Asia/Tokyo')).toMatchObject({
      date: '2027-01-01',
      yyyy: '2027',
      mm: '01',
      dd: '01',
    });
  });
});

describe('renderTemplate', () => {
  const at = new Date('2026-11-27T23:30:00Z');

  it('replaces placeholders in every string, nested and in arrays, and leaves regex quantifiers alone', () => {
    const { rendered, problems } = renderTemplate(
      {
        a: 'x/{date}/{yyyy}{mm}{dd}',
        list: ['{dd}', 3, null, true],
        re: '^f\\d{2}$',
        deep: { t: '{datetime}' },
      },
      at,
      'Asia/Tokyo',
    );
    expect(problems).toEqual([]);
    expect(rendered).toEqual({
      a: 'x/2026-11-28/20261128',
      list: ['28', 3, null, true],
      re: '^f\\d{2}$',
      deep: { t: '2026-11-27T23:30:00.000Z' },
    });
  });

  it('reports every unknown placeholder with its path, and does not change the template', () => {
    const template = { input: { uri: 's3://x/{day}/' }, output: { passthrough: ['id', '{Date}'] } };
    const before = structuredClone(template);
    const { problems } = renderTemplate(template, at, 'Asia/Tokyo');
    expect(problems.map((p) => p.path)).toEqual(['input.uri', 'output.passthrough[1]']);
    expect(problems[0]?.message).toContain('unknown placeholder {day}');
    expect(problems[0]?.message).toContain('{date}');
    expect(template).toEqual(before);
  });
});

describe('cron patterns', () => {
  it('takes 5 and 6 fields, and refuses other counts and bad values with the reason', () => {
    expect(cronProblem('0 2 * * *')).toBeUndefined();
    expect(cronProblem('* * * * * *')).toBeUndefined();
    expect(cronProblem('0 2 * * 1-5')).toBeUndefined();
    expect(cronProblem('* * * *')).toMatch(/expected 5 fields .* or 6 .*got 4/);
    expect(cronProblem('')).toMatch(/got 0/);
    expect(cronProblem('* * * * * * *')).toMatch(/got 7/);
    expect(cronProblem('61 * * * *')).toMatch(/61/);
    expect(cronProblem('0 25 * * *')).toMatch(/25/);
    expect(cronProblem('0 2 * * mon-x')).toBeDefined();
  });

  it('computes the next run in the schedule’s time zone', () => {
    const after = new Date('2026-11-27T23:30:00Z');
    expect(nextRunAfter('0 2 * * *', 'UTC', after).toISOString()).toBe('2026-11-28T02:00:00.000Z');
    // 02:00 in Tokyo on the 29th (it is already 08:30 on the 28th there).
    expect(nextRunAfter('0 2 * * *', 'Asia/Tokyo', after).toISOString()).toBe('2026-11-28T17:00:00.000Z');
    expect(nextRunAfter('* * * * * *', 'UTC', after).toISOString()).toBe('2026-11-27T23:30:01.000Z');
  });
});

describe('parseSchedule', () => {
  const at = new Date('2026-11-27T23:30:00Z');

  it('fills defaults and keeps the template as written', () => {
    const parsed = parseSchedule(schedule, at);
    expect(parsed).toEqual({
      ...schedule,
      timezone: 'UTC',
      enabled: true,
      paused: false,
      catchUp: 'latest',
      catchUpWindow: 'P3D',
      maxActiveRuns: 1,
    });
    // `enabled` is the older name of `!paused`: either may be given, both must agree.
    expect(parseSchedule({ ...schedule, timezone: 'asia/tokyo', enabled: false }, at)).toMatchObject({
      timezone: 'Asia/Tokyo',
      enabled: false,
      paused: true,
    });
    expect(parseSchedule({ ...schedule, paused: true }, at)).toMatchObject({ enabled: false, paused: true });
    const conflict = thrown(ScheduleInvalid, () =>
      parseSchedule({ ...schedule, paused: true, enabled: true }, at),
    );
    expect(problemsOf(conflict).map((p) => p.path)).toEqual(['paused']);
  });

  it('reports a bad cron, a bad time zone, an unknown placeholder and a bad job spec, all at once, with paths', () => {
    const error = thrown(ScheduleInvalid, () =>
      parseSchedule(
        {
          name: 'Bad Name',
          cron: '61 * * * *',
          timezone: 'Mars/Olympus',
          job: {
            ...job,
            input: { uri: 's3://events/{when}/', format: 'parquet' },
            output: { uri: 's3://scores/', bogus: 1 },
            priority: 99,
          },
          extra: true,
        },
        at,
      ),
    );
    const problems = problemsOf(error);
    const paths = problems.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'name',
        'cron',
        'timezone',
        'extra',
        'job.input.uri',
        'job.output.bogus',
        'job.priority',
      ]),
    );
    expect(problems.find((p) => p.path === 'job.input.uri')?.message).toContain('{when}');
    expect(problems.find((p) => p.path === 'cron')?.message).toMatch(/61/);
    expect(error.code).toBe('SCHEDULE_INVALID');
  });

  it('refuses a missing body or job as required', () => {
    expect(problemsOf(thrown(ScheduleInvalid, () => parseSchedule(undefined, at)))).toEqual([
      { path: '(root)', message: 'required' },
    ]);
    expect(
      problemsOf(thrown(ScheduleInvalid, () => parseSchedule({ name: 'a', cron: '0 2 * * *' }, at))),
    ).toEqual([{ path: 'job', message: 'required' }]);
  });

  it('refuses a template that renders to an invalid spec only through a placeholder', () => {
    // `{dd}` renders to "28": not a number, so priority is invalid whatever the day.
    const problems = problemsOf(
      thrown(ScheduleInvalid, () => parseSchedule({ ...schedule, job: { ...job, priority: '{dd}' } }, at)),
    );
    expect(problems.map((p) => p.path)).toEqual(['job.priority']);
  });
});

describe('renderScheduledSpec', () => {
  it('renders the day in the schedule’s zone and fills the spec’s defaults', () => {
    const spec = renderScheduledSpec(job, new Date('2026-11-27T23:30:00Z'), 'Asia/Tokyo');
    expect(spec.input.uri).toBe('s3://events/dt=2026-11-28/');
    expect(spec.output.uri).toBe('s3://scores/2026/11/28/');
    expect(spec.name).toBe('nightly-2026-11-28');
    expect(spec.priority).toBe(5);
  });
});

describe('scheduleIdempotencyKey', () => {
  it('is one key per schedule and stamp (a logical time; a day under older versions)', () => {
    expect(scheduleIdempotencyKey('hourly', '2026-11-28T03:00+01:00')).toBe(
      'schedule:hourly:2026-11-28T03:00+01:00',
    );
    expect(scheduleIdempotencyKey('nightly-fraud', '2026-11-28')).toBe('schedule:nightly-fraud:2026-11-28');
    expect(scheduleIdempotencyKey('a', '2026-11-28')).not.toBe(scheduleIdempotencyKey('a', '2026-11-29'));
  });
});

describe('toScheduleView', () => {
  const record: ScheduleRecord = {
    ...parseSchedule(schedule),
    job: { ...job, webhook: { ...job.webhook, previousSecret: 'whsec_b2xk' } },
    tenant: 'acme',
    createdAt: '2026-11-27T00:00:00.000Z',
    updatedAt: '2026-11-27T00:00:00.000Z',
  };

  it('leaves out webhook secrets and tells the next run, null when paused', () => {
    const view = toScheduleView(record, new Date('2026-11-27T23:30:00Z'));
    expect(view.job.webhook).toEqual({ url: 'https://example.com/hooks' });
    expect(JSON.stringify(view)).not.toContain('whsec_');
    expect(view.nextRunAt).toBe('2026-11-28T02:30:00.000Z');
    expect(record.job.webhook).toMatchObject({ secret: 'whsec_c2VjcmV0' });
    expect(toScheduleView({ ...record, enabled: false, paused: true }, new Date()).nextRunAt).toBeNull();
  });
});

describe('dueAtOf', () => {
  it('is the time the job scheduler planned the tick for, not when it ran', () => {
    expect(dueAtOf({ opts: { prevMillis: 1_000 }, timestamp: 5_000 }).getTime()).toBe(1_000);
    expect(dueAtOf({ opts: { delay: 250 }, timestamp: 5_000 }).getTime()).toBe(5_250);
  });
});
