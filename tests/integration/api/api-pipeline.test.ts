import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobResultsSchema } from '../../../schemas/api.js';
import { jobViewSchema, type JobView } from '../../../schemas/job-record.js';
import { makeApi } from '../../../services/api/make-api.js';
import { makeS3Presigner, type Presigner } from '../../../services/storage/presign.js';
import { modelPath } from '../../../scripts/lib/models.js';
import { featureColumns, startPipeline, type TestPipeline } from '../../helpers/pipeline.js';
import { startS3Server, testS3Options, type TestS3Server } from '../../helpers/s3-server.js';
import { apiKeys, auth, fakeDeliveries } from './api-harness.js';

/** id + f0..f63 as CSV. */
function csvOf(rows: number): string {
  const lines = [['id', ...featureColumns].join(',')];
  for (let id = 0; id < rows; id++)
    lines.push([id, ...featureColumns.map((_, j) => ((id * 7 + j) % 101) / 101)].join(','));
  return `${lines.join('\n')}\n`;
}

describe('a job run by the real pipeline, driven over the API', () => {
  let s3: TestS3Server;
  let pipeline: TestPipeline;
  let presigner: Presigner;
  let app: FastifyInstance;

  beforeAll(async () => {
    s3 = await startS3Server();
    await s3.createBucket('quiver');
    await s3.storage.write('s3://quiver/models/mlp.onnx', await readFile(await modelPath('tabular-mlp')));
    await s3.storage.write('s3://quiver/in/a.csv', new TextEncoder().encode(csvOf(1_500)));
    pipeline = await startPipeline({ storage: s3.storage });
    presigner = makeS3Presigner(testS3Options(s3.endpoint));
    app = await makeApi({
      store: pipeline.store,
      queues: pipeline.queues,
      storage: s3.storage,
      presigner,
      deliveries: fakeDeliveries(),
      redis: pipeline.redis,
      prefix: pipeline.prefix,
      keys: apiKeys,
    });
    await app.ready();
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    presigner?.close();
    await pipeline?.close();
    await s3?.close();
  });

  it('submits, long-polls to success, and downloads every part through its presigned URL', async () => {
    const submitted = await app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: { ...auth('acme'), 'idempotency-key': 'pipeline-run-1' },
      payload: {
        name: 'api-pipeline',
        input: { uri: 's3://quiver/in/', format: 'csv' },
        model: {
          uri: 's3://quiver/models/mlp.onnx',
          inputs: { features: { columns: featureColumns } },
          outputs: { score: { column: 'score' } },
        },
        output: { uri: 's3://quiver/out/', format: 'parquet', passthrough: ['id'] },
        batch: { chunkRows: 1_000 },
      },
    });
    expect(submitted.statusCode).toBe(201);
    let job = jobViewSchema.parse(submitted.json());

    const statuses = [job.status];
    const deadline = Date.now() + 60_000;
    while (!['succeeded', 'failed', 'cancelled'].includes(job.status) && Date.now() < deadline) {
      const polled = await app.inject({ url: `/v1/jobs/${job.id}?waitSeconds=30`, headers: auth('acme') });
      job = polled.json<JobView>();
      statuses.push(job.status);
    }
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    // Every long-poll came back on a change, not a timeout: no status repeats.
    expect(new Set(statuses).size).toBe(statuses.length);
    expect(job.progress).toMatchObject({ rowsScored: 1_500, rowsRejected: 0, etaSeconds: 0 });

    const results = jobResultsSchema.parse(
      (await app.inject({ url: `/v1/jobs/${job.id}/results`, headers: auth('acme') })).json(),
    );
    expect(results.parts.reduce((rows, part) => rows + part.rows, 0)).toBe(1_500);
    for (const part of results.parts) {
      const download = await fetch(part.url ?? '');
      expect(download.status).toBe(200);
      expect(Buffer.from(await download.arrayBuffer())).toEqual(Buffer.from(await s3.storage.read(part.uri)));
    }
  });
});
