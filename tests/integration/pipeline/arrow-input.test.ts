import { readFile } from 'node:fs/promises';
import {
  Float32,
  Int64,
  RecordBatchFileWriter,
  RecordBatchStreamWriter,
  Table,
  vectorFromArray,
} from 'apache-arrow';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submitJob } from '../../../jobs/submit-job.js';
import { makeFormatReaders } from '../../../services/formats/make-reader.js';
import { modelPath } from '../../../scripts/lib/models.js';
import { countingStorage, type CountingStorage } from '../../helpers/counting-storage.js';
import { FEATURES, featureColumns, startPipeline, type TestPipeline } from '../../helpers/pipeline.js';
import { startS3Server, type TestS3Server } from '../../helpers/s3-server.js';
import { readVerifiedOutput } from '../../helpers/verified-output.js';

const feature = (id: number, j: number): number => Math.fround(((id * 7 + j) % 101) / 101);

/** An Arrow IPC object of `batches` record batches of `rows` rows: `id` from `from`, f0..f63 from it. */
function arrowDataset(format: 'file' | 'stream', from: number, batches: number, rows: number): Uint8Array {
  const writer = format === 'file' ? new RecordBatchFileWriter() : new RecordBatchStreamWriter();
  for (let b = 0; b < batches; b++) {
    const ids = Array.from({ length: rows }, (_, i) => from + b * rows + i);
    const columns: Record<string, ReturnType<typeof vectorFromArray>> = {
      id: vectorFromArray(
        ids.map((id) => BigInt(id)),
        new Int64(),
      ),
    };
    for (const [j, name] of featureColumns.entries()) {
      columns[name] = vectorFromArray(
        ids.map((id) => feature(id, j)),
        new Float32(),
      );
    }
    for (const batch of new Table(columns).batches) writer.write(batch);
  }
  writer.finish();
  return writer.toUint8Array(true);
}

describe('Arrow IPC input split by record batches (real Redis, S3-protocol server, ONNX Runtime)', () => {
  let s3: TestS3Server;
  let pipeline: TestPipeline;
  let work: CountingStorage;
  let modelBytes: Buffer;
  const readers = makeFormatReaders();
  const sizes = new Map<string, number>();

  beforeAll(async () => {
    s3 = await startS3Server();
    for (const bucket of ['events', 'models', 'scores']) await s3.createBucket(bucket);
    modelBytes = await readFile(await modelPath('tabular-mlp'));
    await s3.storage.write('s3://models/mlp.onnx', modelBytes);
    // ids 0..7,999 in a file of 8 batches, 8,000..11,499 in a stream of 5 batches of 700.
    const objects: Array<[string, Uint8Array]> = [
      ['s3://events/arrow/a.arrow', arrowDataset('file', 0, 8, 1_000)],
      ['s3://events/arrow/b.arrows', arrowDataset('stream', 8_000, 5, 700)],
    ];
    for (const [uri, bytes] of objects) {
      await s3.storage.write(uri, bytes);
      sizes.set(uri, bytes.byteLength);
    }
    work = countingStorage(s3.storage);
    pipeline = await startPipeline({ storage: s3.storage, workStorage: work });
  }, 120_000);

  afterAll(async () => {
    await pipeline?.close();
    await readers.close();
    await s3?.close();
  });

  it('honours chunkRows at batch boundaries, reads only each chunk’s batches, and scores every row once', async () => {
    const { record } = await submitJob(
      { store: pipeline.store, queue: pipeline.queues },
      {
        input: { uri: 's3://events/arrow/', format: 'arrow' },
        model: {
          uri: 's3://models/mlp.onnx',
          inputs: { features: { columns: featureColumns } },
          outputs: { score: { column: 'score' } },
        },
        output: { uri: 's3://scores/arrow/', format: 'parquet', passthrough: ['id'] },
        batch: { rows: 512, chunkRows: 2_000 },
      },
    );
    const done = await pipeline.settle(record.id, 90_000);
    expect(done.error).toBeUndefined();
    expect(done.status).toBe('succeeded');
    // 8 × 1,000 rows → 4 chunks of 2,000; 5 × 700 → 1,400 + 1,400 + 700: chunks close at batch boundaries.
    expect(done.progress).toMatchObject({ chunksTotal: 7, rowsScored: 11_500, rowsTotal: 11_500 });

    const { manifest, parts, rows } = await readVerifiedOutput(s3.storage, readers, done.output.manifestUri!);
    expect(parts.every((p) => p.ok)).toBe(true);
    expect(manifest.parts.map((p) => p.rows)).toEqual([2_000, 2_000, 2_000, 2_000, 1_400, 1_400, 700]);
    expect(rows.map(([id]) => id)).toEqual(Array.from({ length: 11_500 }, (_, i) => BigInt(i)));

    // Scores equal ONNX Runtime's on the same features, across both objects.
    const sample = [0, 1_999, 2_000, 7_999, 8_000, 9_399, 11_499];
    const features = new Float32Array(sample.length * FEATURES);
    sample.forEach((id, r) => {
      for (let j = 0; j < FEATURES; j++) features[r * FEATURES + j] = feature(id, j);
    });
    const session = await ort.InferenceSession.create(modelBytes, { intraOpNumThreads: 1 });
    try {
      const tensor = new ort.Tensor('float32', features, [sample.length, FEATURES]);
      const expected = (await session.run({ features: tensor })).score!.data as Float32Array;
      sample.forEach((id, r) => expect(Math.abs(rows[id]![1] - expected[r]!)).toBeLessThanOrEqual(1e-6));
    } finally {
      await session.release();
    }

    // No read of an input object was whole, and the chunks together read about the objects' bytes once.
    const inputReads = work.counts.reads.filter((r) => r.uri.startsWith('s3://events/'));
    expect(inputReads.length).toBeGreaterThan(0);
    expect(inputReads.every((r) => r.range !== undefined)).toBe(true);
    const total = [...sizes.values()].reduce((a, b) => a + b, 0);
    const read = inputReads.reduce((n, r) => n + r.bytes, 0);
    expect(read).toBeLessThan(total * 1.5);
  }, 120_000);
});
