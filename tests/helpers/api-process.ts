import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from '../../scripts/lib/demo-redis.js';

const quiver = join(import.meta.dirname, '../../services/cli/quiver.js');

export interface ApiProcess {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  child: ChildProcess;
  /** Every line it wrote on stdout and stderr, in order. */
  output: string[];
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. Safe twice. */
  stop(graceMs?: number): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `quiver api` on a free loopback port with `env` on top of this process's environment, and
 * resolves once `/healthz` answers 200 (rejects with its output if it exits or `timeoutMs` passes first).
 */
export async function startApiProcess(
  env: Record<string, string>,
  options: { timeoutMs?: number } = {},
): Promise<ApiProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [quiver, 'api'], {
    env: { ...process.env, ...env, QUIVER_API_PORT: String(port), QUIVER_API_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr])
    createInterface({ input: stream }).on('line', (line) => output.push(line));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;
  const url = `http://127.0.0.1:${port}`;

  const api: ApiProcess = {
    url,
    child,
    output,
    async stop(graceMs = 10_000) {
      if (running()) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => running() && child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
    },
  };

  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (!running()) throw new Error(`quiver api exited at start: ${output.slice(-10).join(' | ')}`);
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) });
      await response.body?.cancel();
      if (response.ok) return api;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await api.stop();
      throw new Error(`quiver api did not answer /healthz: ${output.slice(-10).join(' | ')}`);
    }
    await sleep(100);
  }
}
