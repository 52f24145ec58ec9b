import type { JobView } from '../../../schemas/job-record.js';
import { jobViewSchema } from '../../../schemas/job-record.js';
import type { CliContext } from '../../../services/cli/command.js';

/** A valid job view (parsed through the schema, so defaults are filled), with `overrides` on top. */
export function jobView(overrides: Partial<JobView> = {}): JobView {
  return jobViewSchema.parse({
    id: 'job-1',
    tenant: 'acme',
    status: 'running',
    spec: {
      name: 'nightly',
      input: { uri: 'file:///data/in.parquet', format: 'parquet' },
      model: { uri: 'file:///models/m.onnx' },
      output: { uri: 'file:///scores/' },
    },
    specDigest: 'a'.repeat(64),
    createdAt: '2026-11-28T01:00:00.000Z',
    updatedAt: '2026-11-28T01:00:10.000Z',
    startedAt: '2026-11-28T01:00:01.000Z',
    progress: {
      chunksTotal: 10,
      chunksDone: 4,
      rowsScored: 2_000_000,
      rowsRejected: 0,
      rowsPerSecond: 250_000,
      etaSeconds: 12,
    },
    output: { uri: 'file:///scores/job-1/' },
    ...overrides,
  });
}

/** A stream that keeps what is written. */
export function captureStream(isTTY = false) {
  const chunks: string[] = [];
  return {
    isTTY,
    write(text: string) {
      chunks.push(text);
      return true;
    },
    chunks,
    get text() {
      return chunks.join('');
    },
  };
}

/** A CLI context over captured streams and the given fetch. */
export function fakeContext(fetchImpl: typeof fetch, env: NodeJS.ProcessEnv = { QUIVER_API_KEY: 'k' }) {
  const stdout = captureStream();
  const stderr = captureStream();
  const context: CliContext = { env, stdout, stderr, fetch: fetchImpl };
  return { context, stdout, stderr };
}

/** A fetch that answers every call with `respond(url, init)` and records the calls. */
export function fakeFetch(respond: (url: URL, init: RequestInit) => Response | Promise<Response>) {
  const calls: Array<{ url: URL; init: RequestInit }> = [];
  const impl = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    calls.push({ url, init });
    return respond(url, init);
  }) as typeof fetch;
  return { impl, calls };
}

export const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
