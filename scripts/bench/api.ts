/**
 * bench:api — the HTTP API under load on loopback: with 10,000 jobs stored, GET /v1/jobs/:id latency (p99)
 * and POST /v1/jobs throughput (each a real job record and a real BullMQ plan job), measured with
 * autocannon. Everything lives under a private Redis prefix, removed at the end. Targets on 2 cores:
 * GET p99 < 10 ms, POST >= 500/s.
 *   npm run bench:api [-- --jobs 10000 --seconds 10 --connections 10]
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { parseJobSpec, type JobSpecInput } from '../../schemas/job-spec.js';
import { parseApiKeys } from '../../services/api/api-keys.js';
import { makeApi } from '../../services/api/make-api.js';
import { makeRedisDeliveries } from '../../services/delivery/redis-deliveries.js';
import { makeRedisJobStore } from '../../services/queue/job-store.js';
import { makeQueues } from '../../services/queue/queues.js';
import { makeRedis, redisConfigFromEnv } from '../../services/queue/redis-connection.js';
import { makeStorage } from '../../services/storage/make-storage.js';

// autocannon ships no type declarations; this is the slice of its API used here.
interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
}
interface AutocannonResult {
  latency: { p50: number; p99: number };
  requests: { average: number; total: number };
  non2xx: number;
  errors: number;
  duration: number;
}
type Autocannon = (options: {
  url: string;
  connections: number;
  duration: number;
  headers?: Record<string, string>;
  method?: string;
  body?: string;
  requests?: Array<{ setupRequest?: (request: AutocannonRequest) => AutocannonRequest }>;
}) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '10' },
  },
});
const jobsStored = Number(values.jobs);
const seconds = Number(values.seconds);
const connections = Number(values.connections);

const specInput: JobSpecInput = {
  name: 'bench',
  input: { uri: 's3://events/dt=2026-11-27/', format: 'parquet' },
  model: { uri: 's3://models/fraud/v3.onnx', inputs: { features: { columns: ['f0', 'f1', 'f2'] } } },
  output: { uri: 's3://scores/fraud/', passthrough: ['event_id'] },
  webhook: { url: 'https://example.com/hooks/quiver', secret: 'whsec_YmVuY2g=' },
  labels: { team: 'risk' },
};
const spec = parseJobSpec(specInput);

const redis = makeRedis(redisConfigFromEnv().url);
const prefix = `{bench-api-${randomBytes(4).toString('hex')}}`;
const store = makeRedisJobStore(redis, prefix);
const queues = makeQueues(redis, prefix);
const storage = makeStorage();
const key = randomBytes(24).toString('base64url');
const authorization = `Bearer ${key}`;

async function removePrefix(): Promise<void> {
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (batch.length > 0) await redis.unlink(...batch);
  } while (cursor !== '0');
}

const app = await makeApi(
  {
    store,
    queues,
    storage,
    deliveries: makeRedisDeliveries({ redis, prefix, queues }),
    redis,
    prefix,
    keys: parseApiKeys(`bench:${key}`, 'bench'),
  },
  // Limits out of the way: this measures the request path, not the limiter's refusals.
  { rateLimitMax: 1_000_000_000, maxActiveJobs: 1_000_000 },
);
try {
  const ids: string[] = [];
  for (let i = 0; i < jobsStored; i += 500) {
    const batch = Array.from({ length: Math.min(500, jobsStored - i) }, () =>
      store.create(spec, { tenant: 'bench' }),
    );
    ids.push(...(await Promise.all(batch)).map((created) => created.record.id));
  }
  const url = await app.listen({ port: 0, host: '127.0.0.1' });

  let next = 0;
  const get = await autocannon({
    url,
    connections,
    duration: seconds,
    headers: { authorization },
    requests: [
      {
        setupRequest: (request) => ({ ...request, path: `/v1/jobs/${ids[next++ % ids.length] ?? ''}` }),
      },
    ],
  });
  const post = await autocannon({
    url: `${url}/v1/jobs`,
    connections,
    duration: seconds,
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body: JSON.stringify(specInput),
  });
  for (const [name, result] of [
    ['GET', get],
    ['POST', post],
  ] as const) {
    if (result.non2xx > 0 || result.errors > 0) {
      throw new Error(`${name}: ${result.non2xx} non-2xx answers and ${result.errors} errors`);
    }
  }
  console.log(
    JSON.stringify({
      bench: 'api',
      jobsStored,
      getP99Ms: get.latency.p99,
      postPerSec: Math.round(post.requests.total / post.duration),
      getP50Ms: get.latency.p50,
      getPerSec: Math.round(get.requests.total / get.duration),
      connections,
      seconds,
    }),
  );
} finally {
  await app.close();
  await queues.close();
  await removePrefix();
  await redis.quit();
  storage.close();
}
