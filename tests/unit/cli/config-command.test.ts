import { describe, expect, it } from 'vitest';
import { main } from '../../../services/cli/main.js';
import { fakeContext, fakeFetch } from './fixtures.js';

const noNetwork = fakeFetch(() => {
  throw new Error('quiver config makes no call');
}).impl;

describe('quiver config', () => {
  it('prints one process’s variables as a table: value and source, secrets masked', async () => {
    const { context, stdout } = fakeContext(noNetwork, {
      QUIVER_API_KEYS: 'acme:acme-0123456789abcdef',
      QUIVER_API_PORT: '9000',
    });
    expect(await main(['config', '--process', 'api'], context)).toBe(0);
    const lines = stdout.text.split('\n');
    expect(lines[0]).toMatch(/^VARIABLE +VALUE +SOURCE$/);
    expect(lines).toContainEqual(expect.stringMatching(/^QUIVER_API_KEYS +\*{4} +env$/));
    expect(lines).toContainEqual(expect.stringMatching(/^QUIVER_API_PORT +9000 +env$/));
    expect(lines).toContainEqual(expect.stringMatching(/^QUIVER_API_HOST +0\.0\.0\.0 +default$/));
    expect(stdout.text).not.toContain('QUIVER_DEVICES');
    expect(stdout.text).not.toContain('0123456789abcdef');
  });

  it('--json: every process without --process, the per-process defaults apart', async () => {
    const { context, stdout } = fakeContext(noNetwork, { QUIVER_API_KEY: 'acme-0123456789abcdef' });
    expect(await main(['config', '--json'], context)).toBe(0);
    const rows = JSON.parse(stdout.text) as Array<{
      process: string;
      name: string;
      value: string;
      source: string;
    }>;
    const grace = rows.filter((r) => r.name === 'QUIVER_SHUTDOWN_GRACE_SECONDS');
    expect(grace).toEqual([
      { process: 'worker', name: 'QUIVER_SHUTDOWN_GRACE_SECONDS', value: '90', source: 'default' },
      { process: 'scheduler', name: 'QUIVER_SHUTDOWN_GRACE_SECONDS', value: '30', source: 'default' },
    ]);
    expect(rows.find((r) => r.name === 'QUIVER_API_KEY')).toEqual({
      process: 'cli',
      name: 'QUIVER_API_KEY',
      value: '****',
      source: 'env',
    });
  });

  it('an unusable value exits 1 naming the variable; a bad --process is a usage error', async () => {
    const bad = fakeContext(noNetwork, { QUIVER_LOCK_SECONDS: 'soon' });
    expect(await main(['config', '--process', 'worker'], bad.context)).toBe(1);
    expect(bad.stderr.text).toContain('Invalid QUIVER_LOCK_SECONDS: expected a positive number of seconds');
    expect(bad.stderr.text).toContain('CONFIG_INVALID');
    const usage = fakeContext(noNetwork, {});
    expect(await main(['config', '--process', 'gpu'], usage.context)).toBe(2);
    expect(usage.stderr.text).toContain('--process: expected one of api, worker, scheduler, cli');
  });
});
