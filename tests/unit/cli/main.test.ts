import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCommandArgs, parseNumber } from '../../../services/cli/command.js';
import { UsageError } from '../../../services/cli/errors/usage-error.js';
import { commands, main, usage } from '../../../services/cli/main.js';
import { thrown } from '../../helpers/thrown.js';
import { fakeContext, fakeFetch, jobView, json } from './fixtures.js';

const noNetwork = fakeFetch(() => {
  throw new Error('no request expected');
}).impl;

describe('CLI argument parsing', () => {
  it('turns bad command lines into usage errors naming the flag or argument', () => {
    const flags = { limit: { type: 'string' }, all: { type: 'boolean' } } as const;
    expect(parseCommandArgs(['--limit', '5', 'x'], flags, { min: 1, max: 1, names: 'job id' })).toMatchObject(
      {
        values: { limit: '5' },
        positionals: ['x'],
      },
    );
    expect(
      thrown(UsageError, () => parseCommandArgs(['--nope'], flags, { min: 0, max: 0, names: '' })).message,
    ).toMatch(/--nope/);
    expect(
      thrown(UsageError, () => parseCommandArgs([], flags, { min: 1, max: 1, names: 'job id' })).message,
    ).toBe('missing job id');
    expect(
      thrown(UsageError, () => parseCommandArgs(['a', 'b'], flags, { min: 1, max: 1, names: 'job id' }))
        .message,
    ).toBe('unexpected argument "b"');
    expect(
      thrown(UsageError, () => parseCommandArgs(['--limit'], flags, { min: 0, max: 0, names: '' })).message,
    ).toMatch(/--limit/);
  });

  it('parses numbers strictly', () => {
    expect(parseNumber('--limit', '20', { integer: true })).toBe(20);
    expect(parseNumber('--interval', '0.5')).toBe(0.5);
    for (const text of ['', '1e3', '0x10', 'abc', '2.5'])
      expect(() => parseNumber('--limit', text, { integer: true })).toThrow(UsageError);
  });
});

describe('quiver main', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-cli-unit-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('lists every command and the exit codes in its help; each command has its own', async () => {
    for (const name of [
      'submit',
      'status',
      'list',
      'cancel',
      'results',
      'api',
      'worker',
      'scheduler',
      'demo',
      'inspect-model',
    ])
      expect(usage).toContain(`  ${name}`);
    expect(usage).toMatch(/Exit codes:[\s\S]*3 {2}the watched job failed[\s\S]*5 {2}no such job/);
    for (const command of commands) {
      const { context, stdout } = fakeContext(noNetwork);
      expect(await main([command.name, '--help'], context)).toBe(0);
      expect(stdout.text).toBe(command.help);
      expect(stdout.text).toContain(`Usage: quiver ${command.name}`);
    }
    const bare = fakeContext(noNetwork);
    expect(await main([], bare.context)).toBe(2);
    const unknown = fakeContext(noNetwork);
    expect(await main(['frobnicate'], unknown.context)).toBe(2);
    expect(unknown.stderr.text).toContain('unknown command "frobnicate"');
  });

  it('prints a usage error with a pointer to the help, or as JSON with --json', async () => {
    const text = fakeContext(noNetwork);
    expect(await main(['status'], text.context)).toBe(2);
    expect(text.stderr.text).toBe('quiver status: missing job id\nRun "quiver status --help" for usage.\n');
    const machine = fakeContext(noNetwork);
    expect(await main(['list', '--status', 'done', '--json'], machine.context)).toBe(2);
    expect(JSON.parse(machine.stderr.text)).toEqual({
      error: {
        code: 'USAGE',
        message: expect.stringContaining('--status: expected one of queued, planning') as string,
      },
    });
  });

  it('checks a spec before sending it: every problem with its field path, exit 2', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(
      file,
      'input:\n  uri: file:///d/\n  format: xlsx\nmodel: {uri: file:///m.onnx}\noutput: {uri: file:///o/}\nextra: 1\n',
    );
    const { context, stderr } = fakeContext(noNetwork);
    expect(await main(['submit', file], context)).toBe(2);
    expect(stderr.text).toContain('JOB_SPEC_INVALID: 2 problems');
    expect(stderr.text).toContain('  input.format: ');
    expect(stderr.text).toContain('  extra: unknown field');

    const missing = fakeContext(noNetwork);
    expect(await main(['submit', join(dir, 'nope.json')], missing.context)).toBe(2);
    expect(missing.stderr.text).toContain('SPEC_FILE_INVALID');
    const broken = join(dir, 'broken.json');
    await writeFile(broken, '{"input": ');
    const unparsable = fakeContext(noNetwork);
    expect(await main(['submit', broken], unparsable.context)).toBe(2);
    expect(unparsable.stderr.text).toMatch(/SPEC_FILE_INVALID: .*broken\.json/);
    const nothing = fakeContext(noNetwork);
    expect(await main(['submit'], nothing.context)).toBe(2);
  });

  it('needs an API key before calling the API', async () => {
    const { context, stderr } = fakeContext(noNetwork, {});
    expect(await main(['status', 'job-1'], context)).toBe(2);
    expect(stderr.text).toContain('no API key: set QUIVER_API_KEY or pass --api-key');
  });

  it('submits from flags and prints the id, or the job as JSON', async () => {
    const view = jobView({ status: 'queued' });
    const fetch = fakeFetch(() => json(201, view));
    const flags = [
      '--input',
      'file:///d/',
      '--format',
      'parquet',
      '--model',
      'file:///m.onnx',
      '--output',
      'file:///o/',
    ];
    const text = fakeContext(fetch.impl, { QUIVER_API_KEY: 'k', QUIVER_API_URL: 'http://api.test:9' });
    expect(await main(['submit', ...flags, '--idempotency-key', 'night-1'], text.context)).toBe(0);
    expect(text.stdout.text).toBe('job-1\n');
    expect(fetch.calls[0]?.url.href).toBe('http://api.test:9/v1/jobs');
    expect(JSON.parse(fetch.calls[0]?.init.body as string)).toEqual({
      input: { uri: 'file:///d/', format: 'parquet' },
      model: { uri: 'file:///m.onnx' },
      output: { uri: 'file:///o/' },
    });
    const machine = fakeContext(fetch.impl);
    expect(
      await main(['submit', ...flags, '--json', '--api-url', 'http://other.test'], machine.context),
    ).toBe(0);
    expect(JSON.parse(machine.stdout.text)).toEqual(view);
    expect(fetch.calls[1]?.url.host).toBe('other.test');
  });

  it('maps API answers to exit codes: 404 → 5, a failed watch → 3 with the error code', async () => {
    const notFound = fakeFetch(() => json(404, { error: { code: 'JOB_NOT_FOUND', message: 'no job nope' } }));
    const missing = fakeContext(notFound.impl);
    expect(await main(['status', 'nope'], missing.context)).toBe(5);
    expect(missing.stderr.text).toBe('quiver status: JOB_NOT_FOUND: no job nope\n');

    const failed = jobView({ status: 'failed', error: { code: 'FEATURE_COLUMN_MISSING', message: 'no f3' } });
    const watch = fakeContext(fakeFetch(() => json(200, failed)).impl);
    expect(await main(['status', 'job-1', '--watch'], watch.context)).toBe(3);
    expect(watch.stdout.text).toBe('job job-1 failed: FEATURE_COLUMN_MISSING: no f3\n');
    expect(watch.stderr.text).toContain('failed');
  });

  it('stops a watch at --timeout with exit 6, the job still going', async () => {
    const { context, stdout, stderr } = fakeContext(fakeFetch(() => json(200, jobView())).impl);
    expect(await main(['status', 'job-1', '--watch', '--interval', '0.1', '--timeout', '0.3'], context)).toBe(
      6,
    );
    expect(stdout.text).toBe('job job-1 running: 4/10 chunks, 2,000,000 rows\n');
    expect(stderr.text).toContain('still running after 0.3 s (--timeout)');
  });

  it('lists jobs as a table, following cursors with --all', async () => {
    const fetch = fakeFetch((url) =>
      url.searchParams.get('cursor') === 'p2'
        ? json(200, { jobs: [jobView({ id: 'job-2', status: 'succeeded' })], nextCursor: null })
        : json(200, { jobs: [jobView()], nextCursor: 'p2' }),
    );
    const one = fakeContext(fetch.impl);
    expect(await main(['list', '--label', 'team=risk', '--limit', '1'], one.context)).toBe(0);
    expect(one.stdout.text.split('\n')[0]).toMatch(/^ID +STATUS +NAME +CHUNKS +ROWS +CREATED$/);
    expect(one.stdout.text).toContain('job-1  running');
    expect(one.stderr.text).toBe('more jobs: --cursor p2 (or --all)\n');
    expect(fetch.calls[0]?.url.search).toBe('?label=team%3Arisk&limit=1');
    const all = fakeContext(fetch.impl);
    expect(await main(['list', '--all', '--json'], all.context)).toBe(0);
    const body = JSON.parse(all.stdout.text) as { jobs: Array<{ id: string }>; nextCursor: null };
    expect(body.jobs.map((j) => j.id)).toEqual(['job-1', 'job-2']);
    expect(body.nextCursor).toBeNull();
  });
});
