import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChunkDescriptor } from '../../../schemas/chunk-descriptor.js';
import { BadDataError } from '../../../services/formats/errors/bad-data-error.js';
import { EmptyInputError } from '../../../jobs/plan/errors/empty-input-error.js';
import { planInput } from '../../../jobs/plan/plan-input.js';
import { type FormatReaders, makeFormatReaders } from '../../../services/formats/make-reader.js';
import { makeFileStorage } from '../../../services/storage/file-storage.js';
import { countingStorage } from '../../helpers/counting-storage.js';
import type { Storage } from '../../../jobs/ports/storage.js';
import { startS3Server, type TestS3Server } from '../../helpers/s3-server.js';

/** Every value of column `column` over every chunk of the plan, read chunk by chunk as workers would. */
async function readPlan(readers: FormatReaders, storage: Storage, chunks: ChunkDescriptor[], column: string) {
  const values: unknown[] = [];
  for (const chunk of chunks) {
    let rows = 0;
    for (const part of chunk.parts) {
      for await (const batch of readers.readerFor(chunk.format).readPart(storage, part)) {
        rows += batch.numRows;
        for (let r = 0; r < batch.numRows; r++) values.push(batch.getChild(column)!.get(r));
      }
    }
    if (chunk.rows !== undefined) expect(rows).toBe(chunk.rows);
  }
  return values;
}

describe('planInput → read every chunk', () => {
  let dir: string;
  let s3: TestS3Server;
  const readers = makeFormatReaders();
  const sizes: number[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-plan-'));
    s3 = await startS3Server();
    await s3.createBucket('events');
    const duck = await DuckDBInstance.create(':memory:');
    const connection = await duck.connect();
    // One large file of 6 row groups and two small ones, ids disjoint and covering [0, 16384 + 2 * 300).
    const files: Array<[string, number, number]> = [
      ['big.parquet', 0, 6 * 2048],
      ['small-a.parquet', 6 * 2048, 300],
      ['small-b.parquet', 6 * 2048 + 300, 300],
    ];
    // Sixteen more float columns make the files large enough that reading only their tails shows.
    const wide = Array.from({ length: 16 }, (_, i) => `random()::FLOAT AS g${i}`).join(', ');
    for (const [name, from, count] of files) {
      const path = join(dir, name);
      await connection.run(
        `COPY (SELECT (${from} + range)::BIGINT AS id, random()::FLOAT AS f, ${wide} FROM range(${count})) TO '${path}' (FORMAT parquet, ROW_GROUP_SIZE 2048)`,
      );
      const bytes = await readFile(path);
      sizes.push(bytes.byteLength);
      await s3.storage.write(`s3://events/dt=2026-11-27/${name}`, bytes);
    }
    connection.closeSync();
    duck.closeSync();
    await s3.storage.write('s3://events/dt=2026-11-27/_SUCCESS', new Uint8Array());
    await s3.storage.write('s3://events/dt=2026-11-27/.big.parquet.crc', new Uint8Array([1, 2, 3]));
  });

  afterAll(async () => {
    await readers.close();
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('plans a Parquet prefix on S3 from footers alone and the chunks cover every row exactly once', async () => {
    const storage = countingStorage(s3.storage);
    const chunks = await planInput(
      storage,
      readers,
      { uri: 's3://events/dt=2026-11-27/', format: 'parquet' },
      {
        chunkRows: 4_096,
        chunkBytes: 1 << 30,
      },
    );
    // Footers only: a few small tail reads, far from the objects' total size.
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(storage.counts.bytesRead).toBeLessThan(total / 2);
    expect(storage.counts.reads.every((r) => r.range !== undefined && r.bytes <= 64 * 1024)).toBe(true);
    // big.parquet → 3 chunks of 2 row groups; the two small files share a fourth chunk.
    expect(chunks.map((c) => c.rows)).toEqual([4_096, 4_096, 4_096, 600]);
    expect(chunks[3]!.parts.map((p) => p.uri)).toEqual([
      's3://events/dt=2026-11-27/small-a.parquet',
      's3://events/dt=2026-11-27/small-b.parquet',
    ]);
    const ids = (await readPlan(readers, s3.storage, chunks, 'id')) as bigint[];
    expect(ids).toEqual(Array.from({ length: 6 * 2048 + 600 }, (_, i) => BigInt(i)));
  });

  it('plans a CSV with quoted newlines into record-aligned chunks that reproduce every row', async () => {
    const lines = ['id,note'];
    for (let i = 0; i < 2_000; i++)
      lines.push(i % 7 === 0 ? `${i},"multi\nline, ""quoted"""` : `${i},plain ${i}`);
    const path = join(dir, 'notes.csv');
    await writeFile(path, lines.join('\n') + '\n');
    const storage = makeFileStorage();
    const chunks = await planInput(
      storage,
      readers,
      { uri: pathToFileURL(path).href, format: 'csv' },
      {
        chunkRows: 1_000_000,
        chunkBytes: 2_000,
        scanBlockBytes: 777,
      },
    );
    expect(chunks.length).toBeGreaterThan(5);
    const ids = await readPlan(readers, storage, chunks, 'id');
    expect(ids.map(Number)).toEqual(Array.from({ length: 2_000 }, (_, i) => i));
    const notes = await readPlan(readers, storage, chunks, 'note');
    expect(notes[7]).toBe('multi\nline, "quoted"');
  });

  it('names the exact row of a ragged CSV record deep inside a later chunk', async () => {
    const lines = ['id,note'];
    for (let i = 0; i < 3_000; i++) lines.push(i === 2_345 ? `${i},"two\nlines",extra` : `${i},"n\n${i}"`);
    const path = join(dir, 'ragged.csv');
    await writeFile(path, lines.join('\n') + '\n');
    const storage = makeFileStorage();
    const uri = pathToFileURL(path).href;
    const chunks = await planInput(
      storage,
      readers,
      { uri, format: 'csv' },
      { chunkRows: 1e9, chunkBytes: 4_000 },
    );
    const failing = chunks.filter((c) => c.index > 0);
    const error = await readPlan(readers, storage, failing, 'id').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadDataError);
    expect((error as BadDataError).code).toBe('CSV_RAGGED_ROW');
    expect((error as BadDataError).location).toMatchObject({ uri, row: 2_345 });
  });

  it('names the prefix when nothing of the format is there', async () => {
    const error = await planInput(
      s3.storage,
      readers,
      { uri: 's3://events/dt=2026-11-28/', format: 'parquet' },
      {
        chunkRows: 1,
        chunkBytes: 1,
      },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmptyInputError);
    expect((error as EmptyInputError).message).toContain('s3://events/dt=2026-11-28/');
  });
});
