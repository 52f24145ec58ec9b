import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobSpecInput } from '../../../schemas/job-spec.js';
import { submitJob } from '../../../jobs/submit-job.js';
import { makeFormatReaders } from '../../../services/formats/make-reader.js';
import { modelPath } from '../../../scripts/lib/models.js';
import {
  FEATURES,
  featureColumns,
  startPipeline,
  writeDataset,
  type TestPipeline,
} from '../../helpers/pipeline.js';
import { startS3Server, type TestS3Server } from '../../helpers/s3-server.js';

describe('job pipeline end to end (real Redis, S3-protocol server, ONNX Runtime)', () => {
  let s3: TestS3Server;
  let pipeline: TestPipeline;
  let modelBytes: Buffer;
  const readers = makeFormatReaders();

  beforeAll(async () => {
    s3 = await startS3Server();
    for (const bucket of ['events', 'models', 'scores']) await s3.createBucket(bucket);
    modelBytes = await readFile(await modelPath('tabular-mlp'));
    await s3.storage.write('s3://models/fraud/v3.onnx', modelBytes);
    // Three files of 2,048-row groups, ids 0..8,499 across them; f3 is null at id 8,300 (row 300 of part-c).
    await writeDataset(
      s3.storage,
      's3://events/dt=2026-11-27/',
      [
        ['part-a.parquet', 0, 5_000],
        ['part-b.parquet', 5_000, 3_000],
        ['part-c.parquet', 8_000, 500],
      ],
      { nullAt: 8_300 },
    );
    pipeline = await startPipeline({ storage: s3.storage });
  }, 120_000);

  afterAll(async () => {
    await pipeline?.close();
    await readers.close();
    await s3?.close();
  });

  const spec = (overrides: Partial<JobSpecInput> = {}): JobSpecInput => ({
    name: 'nightly-fraud',
    input: { uri: 's3://events/dt=2026-11-27/', format: 'parquet' },
    model: {
      uri: 's3://models/fraud/v3.onnx',
      inputs: { features: { columns: featureColumns, nulls: 'fail' } },
      outputs: { score: { column: 'fraud_score' } },
    },
    output: { uri: 's3://scores/fraud/', format: 'parquet', passthrough: ['id'] },
    batch: { rows: 1_024, chunkRows: 4_096 },
    ...overrides,
  });

  const settle = (id: string) => pipeline.settle(id);

  it('fails a job whose feature is null under nulls: fail, naming the code, the object and the row', async () => {
    const { record } = await submitJob({ store: pipeline.store, queue: pipeline.queues }, spec());
    const done = await settle(record.id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({
      code: 'FEATURE_NULL',
      uri: 's3://events/dt=2026-11-27/part-c.parquet',
      row: 300,
    });
    const listed = [];
    for await (const o of s3.storage.list(`s3://scores/fraud/${record.id}/`)) listed.push(o.uri);
    expect(listed.some((u) => u.endsWith('_SUCCESS'))).toBe(false);
  });

  it('scores every row exactly once under onInvalidRow: skip, writes the refused row with its reason, and a manifest', async () => {
    const { record, created } = await submitJob(
      { store: pipeline.store, queue: pipeline.queues },
      spec({ errors: { onInvalidRow: 'skip', maxInvalidFraction: 0.01 } }),
      { idempotencyKey: 'nightly-2026-11-27' },
    );
    expect(created).toBe(true);
    const done = await settle(record.id);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.progress).toMatchObject({
      chunksDone: done.progress.chunksTotal,
      rowsScored: 8_499,
      rowsRejected: 1,
    });
    // 4,096-row chunks over row groups of 2,048: [a0 a1] [a2 b0 b1] [c0].
    expect(done.progress.chunksTotal).toBe(3);

    const root = `s3://scores/fraud/${record.id}`;
    const manifest = JSON.parse(
      new TextDecoder().decode(await s3.storage.read(`${root}/_manifest.json`)),
    ) as {
      inputRows: number;
      rowsScored: number;
      rowsRejected: number;
      modelSha256: string;
      parts: Array<{ uri: string; rows: number }>;
      rejected: Array<{ uri: string }>;
    };
    expect(manifest).toMatchObject({ inputRows: 8_500, rowsScored: 8_499, rowsRejected: 1 });
    // Parquet + columns mapped into a float32 input: the decoder packed the features.
    expect(pipeline.log.withMessage('features packed in the decoder')).toContainEqual(
      expect.objectContaining({ jobId: record.id, chunk: 0 }),
    );
    await s3.storage.stat(`${root}/_SUCCESS`);

    // Every input id but the refused one, once, in order; scores equal ONNX Runtime's on the same features.
    const ids: bigint[] = [];
    const scores: number[] = [];
    for (const part of manifest.parts) {
      const info = await s3.storage.stat(part.uri);
      for await (const batch of readers
        .readerFor('parquet')
        .readPart(s3.storage, { uri: part.uri, size: info.size, range: { kind: 'whole' } })) {
        expect(batch.schema.fields.map((f) => f.name)).toEqual(['id', 'fraud_score']);
        for (let r = 0; r < batch.numRows; r++) {
          ids.push(batch.getChild('id')!.get(r) as bigint);
          scores.push(batch.getChild('fraud_score')!.get(r) as number);
        }
      }
    }
    expect(ids).toEqual(Array.from({ length: 8_500 }, (_, i) => BigInt(i)).filter((id) => id !== 8_300n));
    const session = await ort.InferenceSession.create(modelBytes, { intraOpNumThreads: 1 });
    try {
      const rows = 64;
      const features = new Float32Array(rows * FEATURES);
      for (let r = 0; r < rows; r++)
        for (let j = 0; j < FEATURES; j++)
          features[r * FEATURES + j] = Math.fround(((r * 7 + j) % 101) / 101);
      const expected = (
        await session.run({ features: new ort.Tensor('float32', features, [rows, FEATURES]) })
      ).score!.data as Float32Array;
      for (let r = 0; r < rows; r++) expect(Math.abs(scores[r]! - expected[r]!)).toBeLessThanOrEqual(1e-6);
    } finally {
      await session.release();
    }

    const refused = new TextDecoder().decode(await s3.storage.read(manifest.rejected[0]!.uri));
    expect(JSON.parse(refused.trim())).toMatchObject({
      id: 8_300,
      _reason: expect.stringContaining('f3') as unknown,
    });

    // The same key and spec is the same job; the same key with another spec is refused.
    const again = await submitJob(
      { store: pipeline.store, queue: pipeline.queues },
      spec({ errors: { onInvalidRow: 'skip', maxInvalidFraction: 0.01 } }),
      {
        idempotencyKey: 'nightly-2026-11-27',
      },
    );
    expect([again.created, again.record.id]).toEqual([false, record.id]);
    await expect(
      submitJob({ store: pipeline.store, queue: pipeline.queues }, spec(), {
        idempotencyKey: 'nightly-2026-11-27',
      }),
    ).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
  });

  it('after Redis forgets the job, resubmitting with the same key finishes it without scoring committed chunks again', async () => {
    const key = 'nightly-resubmit';
    const body = spec({ errors: { onInvalidRow: 'skip', maxInvalidFraction: 0.01 } });
    const first = await submitJob({ store: pipeline.store, queue: pipeline.queues }, body, {
      idempotencyKey: key,
    });
    expect((await settle(first.record.id)).status).toBe('succeeded');
    const committedBefore = pipeline.log
      .withMessage('chunk committed')
      .filter((r) => r.jobId === first.record.id).length;
    // Lose every Redis key of this deployment (the prefix is this test's own) and the _SUCCESS marker.
    const keys = await pipeline.redis.keys(`${pipeline.prefix}*`);
    await pipeline.redis.del(...keys);
    await s3.storage.delete(`s3://scores/fraud/${first.record.id}/_SUCCESS`);
    const second = await submitJob({ store: pipeline.store, queue: pipeline.queues }, body, {
      idempotencyKey: key,
    });
    expect(second.created).toBe(true);
    expect(second.record.id).toBe(first.record.id);
    const done = await settle(second.record.id);
    expect(done.status).toBe('succeeded');
    expect(done.progress.rowsScored).toBe(8_499);
    const committedAfter = pipeline.log
      .withMessage('chunk committed')
      .filter((r) => r.jobId === first.record.id).length;
    expect(committedAfter).toBe(committedBefore);
    await s3.storage.stat(`s3://scores/fraud/${first.record.id}/_SUCCESS`);
  });
});
