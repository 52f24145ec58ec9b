import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ScheduleDetail,
  type ScheduleRunView,
  scheduleDetailSchema,
  scheduleRunViewSchema,
} from '../../../schemas/schedule.js';
import type { ApiClient } from '../../../services/cli/api-client.js';
import { main } from '../../../services/cli/main.js';
import { describeSchedule } from '../../../services/cli/schedule-text.js';
import {
  exitCodeForRuns,
  renderRunsProgress,
  tallyRuns,
  watchRuns,
} from '../../../services/cli/watch-backfill.js';
import { fakeContext, fakeFetch, jobView, json } from './fixtures.js';

const noNetwork = fakeFetch(() => {
  throw new Error('no request expected');
}).impl;

function run(overrides: Partial<ScheduleRunView> = {}): ScheduleRunView {
  return scheduleRunViewSchema.parse({
    logicalTime: '2026-11-20T02:00+00:00',
    at: '2026-11-20T02:00:00.000Z',
    source: 'backfill',
    jobId: 'job-20',
    status: 'succeeded',
    rows: 1000,
    durationSeconds: 12,
    queuedAt: '2026-12-01T00:00:00.000Z',
    submittedAt: '2026-12-01T00:00:00.000Z',
    ...overrides,
  });
}

function detail(overrides: Partial<ScheduleDetail> = {}): ScheduleDetail {
  return scheduleDetailSchema.parse({
    tenant: 'acme',
    name: 'nightly',
    cron: '0 2 * * *',
    timezone: 'UTC',
    job: { input: { uri: 's3://events/dt={date-1d}/', format: 'parquet' }, output: { uri: 's3://scores/' } },
    enabled: true,
    paused: false,
    catchUp: 'latest',
    catchUpWindow: 'P3D',
    maxActiveRuns: 2,
    createdAt: '2026-11-01T00:00:00.000Z',
    updatedAt: '2026-11-01T00:00:00.000Z',
    lastRun: {
      at: '2026-11-20T02:00:00.000Z',
      date: '2026-11-20',
      logicalTime: '2026-11-20T02:00+00:00',
      jobId: 'job-20',
    },
    nextRunAt: '2026-12-02T02:00:00.000Z',
    nextRunTimes: [2, 3, 4, 5, 6].map((d) => `2026-12-0${d}T02:00:00.000Z`),
    runs: [run()],
    waitingRuns: 3,
    activeRuns: 1,
    ...overrides,
  });
}

const scheduleYaml = `name: nightly
cron: "0 2 * * *"
job:
  input: { uri: "s3://events/dt={date-1d}/", format: parquet }
  model: { uri: "s3://models/m.onnx", inputs: { features: { columns: [f0] } } }
  output: { uri: "s3://scores/" }
`;

describe('quiver schedule', () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-cli-schedule-'));
    file = join(dir, 'nightly.yaml');
    await writeFile(file, scheduleYaml);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a missing or unknown subcommand and bad arguments before any call (exit 2)', async () => {
    for (const args of [
      [],
      ['frobnicate'],
      ['get'],
      ['get', 'a', 'b'],
      ['backfill', 'nightly', '--from', '2026-11-01'],
      ['run', 'nightly', '--bogus'],
      ['backfill', 'nightly', '--from', 'a', '--to', 'b', '--wait', '--interval', 'x'],
    ]) {
      const { context, stderr } = fakeContext(noNetwork);
      expect(await main(['schedule', ...args], context), args.join(' ')).toBe(2);
      expect(stderr.text).toContain('Run "quiver schedule --help" for usage.');
    }
  });

  it('checks the file as a schedule first: every problem with its path, nothing sent', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'name: Bad Name\ncron: "0 2 * * *"\njob: { input: { uri: "{nope}" } }\n');
    const { context, stderr } = fakeContext(noNetwork);
    expect(await main(['schedule', 'create', bad], context)).toBe(2);
    expect(stderr.text).toContain('SCHEDULE_INVALID');
    expect(stderr.text).toContain('  name: ');
    expect(stderr.text).toContain('  job.input.uri: unknown placeholder {nope}');
  });

  it('create looks the name up first: an existing one is SCHEDULE_EXISTS (exit 1), nothing posted', async () => {
    const fetch = fakeFetch(() => json(200, detail()));
    const { context, stderr } = fakeContext(fetch.impl);
    expect(await main(['schedule', 'create', file], context)).toBe(1);
    expect(stderr.text).toContain('SCHEDULE_EXISTS: schedule "nightly" already exists');
    expect(fetch.calls.map((c) => c.init.method)).toEqual(['GET']);
  });

  it('create posts the file when the name is free; replace needs it to exist (exit 5)', async () => {
    const notFound = json(404, { error: { code: 'SCHEDULE_NOT_FOUND', message: 'no schedule nightly' } });
    const fetch = fakeFetch((_url, init) => (init.method === 'GET' ? notFound.clone() : json(201, detail())));
    const created = fakeContext(fetch.impl);
    expect(await main(['schedule', 'create', file, '--tenant', 'beta'], created.context)).toBe(0);
    expect(created.stdout.text).toBe('schedule nightly created; next run 2026-12-02T02:00:00.000Z\n');
    const [lookup, post] = fetch.calls;
    expect(lookup?.url.href).toBe('http://127.0.0.1:8080/v1/schedules/nightly?tenant=beta');
    expect(post?.url.pathname).toBe('/v1/schedules');
    expect(JSON.parse(post?.init.body as string)).toMatchObject({ name: 'nightly', cron: '0 2 * * *' });

    const missing = fakeContext(fakeFetch(() => notFound.clone()).impl);
    expect(await main(['schedule', 'replace', file], missing.context)).toBe(5);
    expect(missing.stderr.text).toContain('SCHEDULE_NOT_FOUND');
  });

  it('get prints the definition, the next five fire times and the last runs', async () => {
    const { context, stdout } = fakeContext(fakeFetch(() => json(200, detail())).impl);
    expect(await main(['schedule', 'get', 'nightly'], context)).toBe(0);
    expect(stdout.text).toBe(describeSchedule(detail()));
    expect(stdout.text).toContain('runs      1 active, 3 waiting (at most 2 active)\n');
    expect(stdout.text).toContain('input     s3://events/dt={date-1d}/\n');
    expect(stdout.text).toContain('next runs 2026-12-02T02:00:00.000Z\n          2026-12-03T02:00:00.000Z\n');
    expect(stdout.text).toMatch(
      /LOGICAL TIME +SOURCE +STATUS +ROWS +DURATION +JOB\n2026-11-20T02:00\+00:00 +backfill +succeeded +1,000 +12s +job-20\n$/,
    );
    expect(describeSchedule(detail({ paused: true, nextRunTimes: [], runs: [] }))).toMatch(
      /state {5}paused\n[\s\S]*next runs --\n\nno runs yet\n$/,
    );
  });

  it('list prints a table; run sends --at; delete takes a 204; pause and resume say what changed', async () => {
    const fetch = fakeFetch((url, init) => {
      if (url.pathname === '/v1/schedules') return json(200, { schedules: [detail()] });
      if (url.pathname.endsWith('/run')) return json(202, jobView({ id: 'job-7', status: 'queued' }));
      if (init.method === 'DELETE') return new Response(null, { status: 204 });
      return json(200, detail({ paused: url.pathname.endsWith('/pause') }));
    });
    const listed = fakeContext(fetch.impl);
    expect(await main(['schedule', 'list'], listed.context)).toBe(0);
    expect(listed.stdout.text).toMatch(
      /^NAME +TENANT +CRON +TIMEZONE +STATE +NEXT RUN +LAST RUN\nnightly +acme +0 2 \* \* \* +UTC +active +2026-12-02T02:00:00\.000Z +2026-11-20T02:00\+00:00 job-20\n$/,
    );
    const ran = fakeContext(fetch.impl);
    expect(await main(['schedule', 'run', 'nightly', '--at', '2026-11-20'], ran.context)).toBe(0);
    expect(ran.stdout.text).toBe('job-7\n');
    expect(JSON.parse(fetch.calls.at(-1)?.init.body as string)).toEqual({ at: '2026-11-20' });
    const deleted = fakeContext(fetch.impl);
    expect(await main(['schedule', 'delete', 'nightly', '--json'], deleted.context)).toBe(0);
    expect(JSON.parse(deleted.stdout.text)).toEqual({ name: 'nightly', deleted: true });
    const paused = fakeContext(fetch.impl);
    expect(await main(['schedule', 'pause', 'nightly'], paused.context)).toBe(0);
    expect(paused.stdout.text).toBe('schedule nightly paused (3 runs waiting)\n');
    expect(fetch.calls.at(-1)?.url.pathname).toBe('/v1/schedules/nightly/pause');
    const resumed = fakeContext(fetch.impl);
    expect(await main(['schedule', 'resume', 'nightly'], resumed.context)).toBe(0);
    expect(resumed.stdout.text).toBe('schedule nightly resumed; next run 2026-12-02T02:00:00.000Z\n');
  });

  it('backfill --wait polls the runs until all end and exits by their outcome', async () => {
    const times = ['2026-11-20', '2026-11-21', '2026-11-22'].map((d) => ({
      logicalTime: `${d}T02:00+00:00`,
      at: `${d}T02:00:00.000Z`,
    }));
    const states = [
      ['running', 'waiting', 'waiting'],
      ['succeeded', 'running', 'waiting'],
      ['succeeded', 'cancelled', 'succeeded'],
    ] as const;
    let poll = 0;
    const runsAt = (i: number) =>
      times.map((t, j) => run({ ...t, jobId: `job-${j}`, status: states[i]![j]!, rows: 10 })).reverse();
    const fetch = fakeFetch((url) => {
      if (url.pathname.endsWith('/backfill')) return json(202, { created: 3, runs: runsAt(0).reverse() });
      poll = Math.min(poll + 1, states.length - 1);
      return json(200, { runs: runsAt(poll), nextCursor: null });
    });
    const { context, stdout, stderr } = fakeContext(fetch.impl);
    const args = ['schedule', 'backfill', 'nightly', '--from', '2026-11-20', '--to', '2026-11-22'];
    expect(await main([...args, '--wait', '--interval', '0.1'], context)).toBe(4);
    expect(stdout.text).toMatch(/^backfill of nightly: 3 runs \(3 new\)\n/);
    expect(stdout.text).toMatch(
      /3\/3 runs ended: 2 succeeded, 1 cancelled {2}0 active {2}0 waiting {2}30 rows\n$/,
    );
    expect(stderr.text.trim().split('\n')).toHaveLength(3);
    expect(fetch.calls.at(-1)?.url.search).toBe('?limit=200');
  });

  it('tallies runs: failed or refused → 3, cancelled → 4, else 0; a timeout returns the runs as they are', async () => {
    expect(exitCodeForRuns([run(), run({ status: 'refused' }), run({ status: 'cancelled' })])).toBe(3);
    expect(exitCodeForRuns([run(), run({ status: 'cancelled' })])).toBe(4);
    expect(exitCodeForRuns([run(), run({ status: 'missing' })])).toBe(0);
    const tally = tallyRuns([run(), run({ status: 'waiting', rows: null }), run({ status: 'admitted' })]);
    expect(tally).toMatchObject({ total: 3, ended: 1, succeeded: 1, waiting: 1, active: 1, rows: 2000 });
    expect(renderRunsProgress(tally)).toBe(
      '[########----------------]  1/3 runs ended: 1 succeeded  1 active  1 waiting  2,000 rows',
    );

    let t = 0;
    const client = {
      listScheduleRuns: () => Promise.resolve({ runs: [run({ status: 'running' })], nextCursor: null }),
    } as unknown as ApiClient;
    const watched = await watchRuns(client, 'nightly', [run({ status: 'waiting' })], {
      timeoutSeconds: 5,
      now: () => t,
      sleep: (ms) => {
        t += ms;
        return Promise.resolve();
      },
    });
    expect(watched.timedOut).toBe(true);
    expect(watched.runs.map((r) => r.status)).toEqual(['running']);
  });
});
