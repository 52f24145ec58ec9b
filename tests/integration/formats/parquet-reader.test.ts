import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import type { RecordBatch } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChunkPart } from '../../../schemas/chunk-descriptor.js';
import { BadDataError } from '../../../services/formats/errors/bad-data-error.js';
import { makeParquetReader } from '../../../services/formats/parquet/parquet-reader.js';
import { StorageNotFound } from '../../../jobs/ports/errors/storage-not-found.js';
import { makeFileStorage } from '../../../services/storage/file-storage.js';
import { countingStorage } from '../../helpers/counting-storage.js';
import type { Storage } from '../../../jobs/ports/storage.js';
import { startFaultProxy } from '../../helpers/fault-proxy.js';
import { makeTestS3Storage, startS3Server, type TestS3Server } from '../../helpers/s3-server.js';

const ROWS = 10_240;
// DuckDB sizes row groups in multiples of its 2,048-row vectors.
const ROW_GROUP_ROWS = 2_048;

/**
 * The file is written by DuckDB from SQL formulas; `expectedRow` computes the same values independently in
 * JS, so every decoded value is checked against arithmetic, not against another read of the file.
 */
const WRITE_SQL = `
COPY (
  SELECT
    CASE WHEN i % 11 = 0 THEN NULL ELSE (i * 7 - 100)::INTEGER END AS i32,
    (i * 1000000000000)::BIGINT AS i64,
    CASE WHEN i % 7 = 0 THEN NULL ELSE (i / 8)::FLOAT END AS f32,
    (i::DOUBLE / 10) AS f64,
    (i % 3 = 0) AS flag,
    CASE WHEN i % 13 = 0 THEN NULL ELSE 'cat' || (i % 5)::VARCHAR END AS label,
    make_timestamp((i * 1000003)::BIGINT) AS ts,
    CASE WHEN i % 17 = 0 THEN NULL ELSE [i::FLOAT, (i + 1)::FLOAT] END AS pair,
    (CASE WHEN i % 19 = 0 THEN NULL ELSE [i::FLOAT, (-i)::FLOAT, (i / 2)::FLOAT, 0::FLOAT] END)::FLOAT[4] AS emb
  FROM range(${ROWS}) t(i)
) TO '__PATH__' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${ROW_GROUP_ROWS})`;

function expectedRow(i: number) {
  return {
    i32: i % 11 === 0 ? null : i * 7 - 100,
    i64: BigInt(i) * 1_000_000_000_000n,
    f32: i % 7 === 0 ? null : Math.fround(i / 8),
    f64: i / 10,
    flag: i % 3 === 0,
    label: i % 13 === 0 ? null : `cat${i % 5}`,
    tsMicros: BigInt(i) * 1_000_003n,
    pair: i % 17 === 0 ? null : [i, i + 1],
    emb: i % 19 === 0 ? null : [i, 0 - i, Math.fround(i / 2), 0],
  };
}

function rowsOf(batches: RecordBatch[]) {
  const out: ReturnType<typeof expectedRow>[] = [];
  for (const batch of batches) {
    const ts = batch.getChild('ts')!;
    const tsValues = ts.data[0]!.values as BigInt64Array;
    for (let r = 0; r < batch.numRows; r++) {
      const pair = batch.getChild('pair')!.get(r) as { toArray(): Float32Array } | null;
      const emb = batch.getChild('emb')!.get(r) as { toArray(): Float32Array } | null;
      out.push({
        i32: batch.getChild('i32')!.get(r) as number | null,
        i64: batch.getChild('i64')!.get(r) as bigint,
        f32: batch.getChild('f32')!.get(r) as number | null,
        f64: batch.getChild('f64')!.get(r) as number,
        flag: batch.getChild('flag')!.get(r) as boolean,
        label: batch.getChild('label')!.get(r) as string | null,
        tsMicros: tsValues[r]!,
        pair: pair === null ? null : Array.from(pair.toArray()),
        emb: emb === null ? null : Array.from(emb.toArray()),
      });
    }
  }
  return out;
}

async function collect(iterable: AsyncIterable<RecordBatch>): Promise<RecordBatch[]> {
  const batches: RecordBatch[] = [];
  for await (const batch of iterable) batches.push(batch);
  return batches;
}

describe('Parquet reader (DuckDB-written files, file:// and s3://)', () => {
  let dir: string;
  let path: string;
  let size: number;
  let s3: TestS3Server;
  const reader = makeParquetReader();
  const fileStorage = makeFileStorage();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-parquet-'));
    path = join(dir, 'typed.parquet');
    const duck = await DuckDBInstance.create(':memory:');
    const connection = await duck.connect();
    await connection.run(WRITE_SQL.replace('__PATH__', path));
    const meta = await connection.runAndReadAll(
      `SELECT count(DISTINCT row_group_id), max(compression), bool_or(encodings LIKE '%DICTIONARY%') FROM parquet_metadata('${path}')`,
    );
    // Guard the fixture itself: several row groups, zstd, dictionary pages.
    expect(meta.getRows()[0]).toEqual([5n, 'ZSTD', true]);
    connection.closeSync();
    duck.closeSync();
    size = (await stat(path)).size;
    s3 = await startS3Server();
    await s3.createBucket('data-in');
    await s3.storage.write('s3://data-in/typed.parquet', await readFile(path));
  });

  afterAll(async () => {
    await reader.close();
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const part = (uri: string, start?: number, end?: number): ChunkPart => ({
    uri,
    size,
    range:
      start === undefined
        ? { kind: 'whole' }
        : { kind: 'rowGroups', start, end: end!, rowOffset: start * ROW_GROUP_ROWS },
  });

  it('reads every value of every type from file://, nulls included', async () => {
    const batches = await collect(reader.readPart(fileStorage, part(pathToFileURL(path).href)));
    // One batch per DuckDB vector: several batches, none over 2,048 rows.
    expect(batches.length).toBeGreaterThan(1);
    expect(batches.every((b) => b.numRows <= 2_048)).toBe(true);
    const rows = rowsOf(batches);
    expect(rows).toHaveLength(ROWS);
    rows.forEach((row, i) => expect(row).toEqual(expectedRow(i)));
    const types = Object.fromEntries(batches[0]!.schema.fields.map((f) => [f.name, String(f.type)]));
    expect(types).toMatchObject({
      i32: 'Int32',
      i64: 'Int64',
      f32: 'Float32',
      f64: 'Float64',
      flag: 'Bool',
      label: 'Utf8',
    });
  });

  it('reads row-group chunks from s3:// whose union is exactly the file, fetching only their bytes', async () => {
    const storage = countingStorage(s3.storage);
    const all: ReturnType<typeof expectedRow>[] = [];
    for (const [start, end] of [
      [0, 2],
      [2, 3],
      [3, 5],
    ] as const) {
      storage.resetCounts();
      const rows = rowsOf(
        await collect(reader.readPart(storage, part('s3://data-in/typed.parquet', start, end))),
      );
      expect(rows).toHaveLength((end - start) * ROW_GROUP_ROWS);
      all.push(...rows);
      if (end - start === 1) expect(storage.counts.bytesRead).toBeLessThan(size * 0.5);
    }
    expect(all).toHaveLength(ROWS);
    all.forEach((row, i) => expect(row).toEqual(expectedRow(i)));
  });

  it('returns identical rows through a proxy failing 30% of requests (503s, resets, cut bodies)', async () => {
    const proxy = await startFaultProxy({
      target: s3.endpoint,
      rates: { status503: 0.1, reset: 0.05, truncate: 0.15 },
      seed: 7,
    });
    // Small ranged GETs while staging so many requests meet a fault.
    const flaky = makeTestS3Storage(proxy.endpoint, {
      retry: { maxAttempts: 12, baseDelayMs: 1, maxDelayMs: 10 },
    });
    const faultyReader = makeParquetReader({ fetchBytes: 16 * 1024 });
    try {
      const rows = rowsOf(
        await collect(faultyReader.readPart(flaky, part('s3://data-in/typed.parquet', 1, 4))),
      );
      expect(rows).toHaveLength(3 * ROW_GROUP_ROWS);
      rows.forEach((row, i) => expect(row).toEqual(expectedRow(ROW_GROUP_ROWS + i)));
      expect(
        proxy.faultCount('status') + proxy.faultCount('reset') + proxy.faultCount('truncate'),
      ).toBeGreaterThan(3);
    } finally {
      await faultyReader.close();
      flaky.close();
      await proxy.close();
    }
  });

  it('decodes snappy, gzip and uncompressed files alike', async () => {
    const duck = await DuckDBInstance.create(':memory:');
    const connection = await duck.connect();
    try {
      for (const codec of ['snappy', 'gzip', 'uncompressed']) {
        const file = join(dir, `typed-${codec}.parquet`);
        await connection.run(
          WRITE_SQL.replace('__PATH__', file).replace('COMPRESSION zstd', `COMPRESSION ${codec}`),
        );
        const { size: codecSize } = await stat(file);
        const rows = rowsOf(
          await collect(
            reader.readPart(fileStorage, { ...part(pathToFileURL(file).href, 4, 5), size: codecSize }),
          ),
        );
        expect(rows).toHaveLength(ROWS - 4 * ROW_GROUP_ROWS);
        rows.forEach((row, i) => expect(row).toEqual(expectedRow(4 * ROW_GROUP_ROWS + i)));
      }
    } finally {
      connection.closeSync();
      duck.closeSync();
    }
  });

  it('projects columns in the order asked and names an unknown column', async () => {
    const batches = await collect(
      reader.readPart(fileStorage, part(pathToFileURL(path).href, 1, 2), { columns: ['label', 'i64'] }),
    );
    expect(batches[0]!.schema.fields.map((f) => f.name)).toEqual(['label', 'i64']);
    expect(batches[0]!.getChild('i64')!.get(0)).toBe(2048n * 1_000_000_000_000n);
    const error = await collect(
      reader.readPart(fileStorage, part(pathToFileURL(path).href), { columns: ['nope'] }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadDataError);
    expect((error as BadDataError).code).toBe('SCHEMA_MISMATCH');
    expect((error as BadDataError).message).toContain('"nope"');
  });

  it('packs numeric columns into a row-major float32 list column in the decoder, nulls included', async () => {
    const batches = await collect(
      reader.readPart(fileStorage, part(pathToFileURL(path).href, 0, 1), {
        columns: ['i64'],
        pack: [{ name: 'features', columns: ['i32', 'f32', 'f64', 'flag'] }],
      }),
    );
    expect(batches[0]!.schema.fields.map((f) => [f.name, String(f.type)])).toEqual([
      ['i64', 'Int64'],
      ['features', 'FixedSizeList[4]<Float32>'],
    ]);
    const packed = batches.flatMap((b) =>
      Array.from(
        { length: b.numRows },
        (_, r) =>
          b.getChild('features')!.get(r) as { toArray(): Float32Array; get(i: number): number | null },
      ),
    );
    packed.forEach((row, i) => {
      const e = expectedRow(i);
      expect([row.get(0), row.get(1), row.get(2), row.get(3)]).toEqual([
        e.i32 === null ? null : Math.fround(e.i32),
        e.f32,
        Math.fround(e.f64),
        e.flag ? 1 : 0,
      ]);
    });
    const error = await collect(
      reader.readPart(fileStorage, part(pathToFileURL(path).href), {
        pack: [{ name: 'x', columns: ['nope'] }],
      }),
    ).catch((e: unknown) => e);
    expect((error as BadDataError).code).toBe('SCHEMA_MISMATCH');
  });

  it('reports a truncated or non-Parquet object as PARQUET_INVALID naming it', async () => {
    const bytes = await readFile(path);
    const cases: Array<[string, Uint8Array]> = [
      ['truncated.parquet', bytes.subarray(0, Math.floor(bytes.length / 2))],
      ['text.parquet', new TextEncoder().encode('id,score\n1,0.5\n'.repeat(20))],
    ];
    for (const [name, content] of cases) {
      const file = join(dir, name);
      await writeFile(file, content);
      const uri = pathToFileURL(file).href;
      const error = await collect(
        reader.readPart(fileStorage, { ...part(uri), size: content.byteLength }),
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BadDataError);
      expect((error as BadDataError).code).toBe('PARQUET_INVALID');
      expect((error as BadDataError).message).toContain(uri);
    }
  });

  it('lets a missing object surface as the storage error, not as bad data', async () => {
    const storage: Storage = s3.storage;
    const error = await collect(reader.readPart(storage, part('s3://data-in/missing.parquet'))).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StorageNotFound);
  });
});
