import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { describeResources, leakedResources, settledLeaks } from '../../helpers/leaked-resources.js';

describe('leakedResources', () => {
  it('counts what was added by type, cancelling what the runner held before', () => {
    const before = ['PipeWrap', 'PipeWrap', 'Timeout'];
    const after = ['PipeWrap', 'TCPSocketWrap', 'PipeWrap', 'Timeout', 'TCPSocketWrap', 'Timeout'];
    expect(leakedResources(before, after)).toEqual([
      { type: 'TCPSocketWrap', count: 2 },
      { type: 'Timeout', count: 1 },
    ]);
  });

  it('finds nothing when resources only closed or stayed as they were', () => {
    expect(leakedResources(['PipeWrap', 'CloseReq', 'Timeout'], ['PipeWrap'])).toEqual([]);
    expect(leakedResources(['PipeWrap', 'Timeout'], ['Timeout', 'PipeWrap'])).toEqual([]);
    expect(leakedResources([], [])).toEqual([]);
  });

  it('does not let a closed resource of one type hide a leaked one of another', () => {
    expect(leakedResources(['Timeout', 'Timeout'], ['ProcessWrap'])).toEqual([
      { type: 'ProcessWrap', count: 1 },
    ]);
  });

  it('names what leaked', () => {
    expect(
      describeResources([
        { type: 'TCPSocketWrap', count: 2 },
        { type: 'Timeout', count: 1 },
      ]),
    ).toBe('2 TCPSocketWrap, 1 Timeout');
  });

  it('sees a real server and a real child process, and stops seeing them once closed', async () => {
    const before = process.getActiveResourcesInfo();
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    const types = leakedResources(before, process.getActiveResourcesInfo()).map((r) => r.type);
    expect(types).toEqual(expect.arrayContaining(['ProcessWrap', 'TCPServerWrap']));

    const exited = once(child, 'exit');
    child.kill();
    await exited;
    await new Promise<void>((resolve, reject) =>
      server.close((error) => (error ? reject(error) : resolve())),
    );
    expect(await settledLeaks(before, { graceMs: 1_000, pollMs: 10 })).toEqual([]);
  });
});

describe('settledLeaks', () => {
  it('returns nothing as soon as what was open closes within the grace', async () => {
    const snapshots = [['PipeWrap', 'TCPSocketWrap'], ['PipeWrap', 'TCPSocketWrap'], ['PipeWrap']];
    let taken = 0;
    const active = () => snapshots[Math.min(taken++, snapshots.length - 1)] ?? [];
    expect(await settledLeaks(['PipeWrap'], { graceMs: 5_000, pollMs: 1, active })).toEqual([]);
    expect(taken).toBe(3);
  });

  it('reports what is still open when the grace runs out', async () => {
    const started = Date.now();
    const active = () => ['PipeWrap', 'Timeout'];
    expect(await settledLeaks(['PipeWrap'], { graceMs: 50, pollMs: 5, active })).toEqual([
      { type: 'Timeout', count: 1 },
    ]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(50);
  });
});
