/**
 * `output.compression` and `output.rowGroupRows` at the writer: each codec writes a part that DuckDB reads
 * back with every value, `parquet_metadata()` shows the codec and the row groups asked for, and the size and
 * SHA-256 the writer reports (what the manifest lists) are those of the object stored. Left out, the options
 * write exactly the bytes written before they existed.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { Float32, Float64, Int64, RecordBatch, Utf8, vectorFromArray } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WriterOptions } from '../../../jobs/ports/output-writers.js';
import type { OutputCompression } from '../../../schemas/job-spec.js';
import { encodeBatches, makeWriter } from '../../../services/formats/writers/make-writer.js';
import {
  allTypesBatches,
  expectedRows,
  FIXTURE_DUCKDB_SELECT,
  normalizeDuckRows,
} from '../../helpers/memory-storage-writers.js';
import { startS3Server, type TestS3Server } from '../../helpers/s3-server.js';

const CODEC_NAMES: Record<OutputCompression, string> = {
  snappy: 'SNAPPY',
  zstd: 'ZSTD',
  gzip: 'GZIP',
  none: 'UNCOMPRESSED',
};

/** 2,500 rows in two batches: int64 ids, float32 scores, float64 values and repeating strings. */
function scoreBatches(): RecordBatch[] {
  const batch = (from: number, count: number): RecordBatch => {
    const ids = Array.from({ length: count }, (_, i) => BigInt(from + i));
    return new RecordBatch({
      id: vectorFromArray(ids, new Int64()).data[0]!,
      score: vectorFromArray(
        ids.map((id) => Math.fround(Math.sin(Number(id)) / 3)),
        new Float32(),
      ).data[0]!,
      value: vectorFromArray(
        ids.map((id) => Number(id) * Math.PI * 1e-7),
        new Float64(),
      ).data[0]!,
      country: vectorFromArray(
        ids.map((id) => ['de', 'fr', 'us'][Number(id) % 3]!),
        new Utf8(),
      ).data[0]!,
    });
  };
  return [batch(0, 1_500), batch(1_500, 1_000)];
}

function expectedScoreRows(): Array<Record<string, unknown>> {
  return scoreBatches().flatMap((batch) =>
    Array.from({ length: batch.numRows }, (_, row) => ({
      id: batch.getChild('id')!.get(row) as bigint,
      score: batch.getChild('score')!.get(row) as number,
      value: batch.getChild('value')!.get(row) as number,
      country: batch.getChild('country')!.get(row) as string,
    })),
  );
}

describe('parquet file options read back by DuckDB', () => {
  let s3: TestS3Server;
  let directory: string;
  let duck: DuckDBInstance;
  let connection: DuckDBConnection;

  beforeAll(async () => {
    s3 = await startS3Server();
    await s3.createBucket('file-options');
    directory = await mkdtemp(join(tmpdir(), 'quiver-file-options-'));
    duck = await DuckDBInstance.create(':memory:');
    connection = await duck.connect();
  });
  afterAll(async () => {
    connection.closeSync();
    duck.closeSync();
    await rm(directory, { recursive: true, force: true });
    await s3?.close();
  });

  const query = async (sql: string): Promise<Array<Record<string, unknown>>> =>
    (await connection.runAndReadAll(sql)).getRowObjectsJS();

  /**
   * Writes the batches through S3 as one part; checks the reported size and digest against the stored
   * object, and returns the stored object's local copy for DuckDB.
   */
  async function writePart(name: string, batches: RecordBatch[], options: WriterOptions): Promise<string> {
    const uri = `s3://file-options/${name}.parquet`;
    const written = await makeWriter('parquet', options).write(s3.storage, uri, batches);
    const stored = await s3.storage.read(uri);
    expect(written).toEqual({
      uri,
      rows: batches.reduce((n, b) => n + b.numRows, 0),
      bytes: stored.byteLength,
      sha256: createHash('sha256').update(stored).digest('hex'),
    });
    const path = join(directory, `${name}.parquet`);
    await writeFile(path, stored);
    return path;
  }

  /** Per row group: its rows, and the codecs of its column chunks. */
  async function rowGroups(path: string): Promise<Array<{ rows: number; codecs: string[] }>> {
    const rows = await query(
      `SELECT row_group_id, any_value(row_group_num_rows) AS rows, list(DISTINCT compression) AS codecs
       FROM parquet_metadata('${path}') GROUP BY row_group_id ORDER BY row_group_id`,
    );
    return rows.map((row) => ({ rows: Number(row['rows']), codecs: row['codecs'] as string[] }));
  }

  it.each(['snappy', 'zstd', 'gzip', 'none'] as const)(
    '%s: every value of every type, in the codec asked for',
    async (compression) => {
      const path = await writePart(`all-types-${compression}`, allTypesBatches(), { compression });
      const rows = await query(`SELECT ${FIXTURE_DUCKDB_SELECT} FROM read_parquet('${path}')`);
      expect(normalizeDuckRows(rows)).toEqual(expectedRows());
      expect(await rowGroups(path)).toEqual([{ rows: 7, codecs: [CODEC_NAMES[compression]] }]);
    },
  );

  it.each(['snappy', 'zstd', 'gzip', 'none'] as const)(
    '%s with rowGroupRows 700: row groups of 700 rows across batches, the rows unchanged',
    async (compression) => {
      const path = await writePart(`groups-${compression}`, scoreBatches(), {
        compression,
        rowGroupRows: 700,
      });
      const rows = await query(`SELECT id, score, value, country FROM read_parquet('${path}') ORDER BY id`);
      expect(rows).toEqual(expectedScoreRows());
      const codecs = [CODEC_NAMES[compression]];
      expect(await rowGroups(path)).toEqual([
        { rows: 700, codecs },
        { rows: 700, codecs },
        { rows: 700, codecs },
        { rows: 400, codecs },
      ]);
    },
  );

  it('writes what it wrote before the options existed when none is given', async () => {
    const bytes = await encodeBatches('parquet', allTypesBatches());
    // The SHA-256 of this fixture's part as written before `compression` and `rowGroupRows` existed.
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(
      'c7e16e14a83b3738090c63499dce21f35ba568837361968fe74689eb2af9047e',
    );
    expect(await encodeBatches('parquet', allTypesBatches(), { compression: 'snappy' })).toEqual(bytes);
    // One row group per part: arrow-rs' default (1,048,576 rows) is above any chunk.
    const path = await writePart('default', scoreBatches(), {});
    expect(await rowGroups(path)).toEqual([{ rows: 2_500, codecs: ['SNAPPY'] }]);
  });

  it('compresses: zstd and gzip parts are smaller than uncompressed ones', async () => {
    const sizes = Object.fromEntries(
      await Promise.all(
        (['none', 'snappy', 'zstd', 'gzip'] as const).map(async (compression) => [
          compression,
          (await encodeBatches('parquet', scoreBatches(), { compression })).byteLength,
        ]),
      ),
    ) as Record<OutputCompression, number>;
    expect(sizes.zstd).toBeLessThan(sizes.none);
    expect(sizes.gzip).toBeLessThan(sizes.none);
    expect(sizes.snappy).toBeLessThan(sizes.none);
  });

  it('refuses a codec or row groups for a format that has neither', () => {
    expect(() => makeWriter('csv', { compression: 'gzip' })).toThrow(TypeError);
    expect(() => makeWriter('jsonl', { rowGroupRows: 10 })).toThrow(TypeError);
    expect(makeWriter('csv', { compression: 'none' }).format).toBe('csv');
  });
});
