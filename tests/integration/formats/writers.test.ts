import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { tableFromIPC, type RecordBatch } from 'apache-arrow';
import { readParquet } from 'parquet-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { makeArrowReader } from '../../../services/formats/arrow-reader.js';
import { encodeBatches, makeWriter } from '../../../services/formats/writers/make-writer.js';
import {
  allTypesBatches,
  comparableRows,
  expectedRows,
  FIXTURE_DUCKDB_SELECT,
  normalizeDuckRows,
} from '../../helpers/memory-storage-writers.js';
import { startS3Server, type TestS3Server } from '../../helpers/s3-server.js';

/** Explicit column types for the text formats: CSV and JSON Lines carry no types of their own. */
const TEXT_COLUMNS = `{
  'id': 'BIGINT', 'i32': 'INTEGER', 'score': 'FLOAT', 'f64': 'DOUBLE', 'flag': 'BOOLEAN', 'name': 'VARCHAR',
  'ts_ms': 'TIMESTAMP', 'ts_us_utc': 'TIMESTAMPTZ', 'embedding': '__LIST__', 'vec3': '__LIST__', 'nothing': 'BIGINT'
}`;

/** Each written file is read back by DuckDB, a reader that shares no code with the writers. */
const DUCKDB_SOURCES = {
  parquet: (path: string) => `read_parquet('${path}')`,
  // allow_quoted_nulls=false: `""` is the empty string, only an empty field is null (our CSV contract).
  csv: (path: string) =>
    `read_csv('${path}', header = true, allow_quoted_nulls = false, auto_detect = false, ` +
    `columns = ${TEXT_COLUMNS.replaceAll('__LIST__', 'VARCHAR')})`,
  jsonl: (path: string) =>
    `read_json('${path}', format = 'newline_delimited', columns = ${TEXT_COLUMNS.replaceAll('__LIST__', 'FLOAT[]')})`,
};

describe('writers read back by DuckDB', () => {
  let directory: string;
  let duck: DuckDBInstance;
  let connection: DuckDBConnection;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'quiver-writers-'));
    duck = await DuckDBInstance.create(':memory:');
    connection = await duck.connect();
  });
  afterAll(async () => {
    connection.closeSync();
    duck.closeSync();
    await rm(directory, { recursive: true, force: true });
  });

  async function writeAndQuery(format: keyof typeof DUCKDB_SOURCES, sql: (source: string) => string) {
    const path = join(directory, `all-types.${format}`);
    await writeFile(path, await encodeBatches(format, allTypesBatches()));
    const reader = await connection.runAndReadAll(sql(DUCKDB_SOURCES[format](path)));
    return reader.getRowObjectsJS() as Array<Record<string, unknown>>;
  }

  it.each(['parquet', 'csv', 'jsonl'] as const)(
    '%s: every value of every type, nulls included',
    async (format) => {
      const rows = await writeAndQuery(format, (source) => `SELECT ${FIXTURE_DUCKDB_SELECT} FROM ${source}`);
      expect(normalizeDuckRows(rows)).toEqual(expectedRows());
    },
  );

  it('parquet: stores each column with its own logical type', async () => {
    const rows = await writeAndQuery('parquet', (source) => `DESCRIBE SELECT * FROM ${source}`);
    expect(Object.fromEntries(rows.map((row) => [row['column_name'], row['column_type']]))).toEqual({
      id: 'BIGINT',
      i32: 'INTEGER',
      score: 'FLOAT',
      f64: 'DOUBLE',
      flag: 'BOOLEAN',
      name: 'VARCHAR',
      ts_ms: 'TIMESTAMP',
      ts_us_utc: 'TIMESTAMP WITH TIME ZONE',
      embedding: 'FLOAT[]',
      // Parquet has no fixed-size list; the Arrow schema stored in the file keeps it (next test).
      vec3: 'FLOAT[]',
      nothing: 'BIGINT',
    });
  });

  it('parquet: an Arrow reader gets the exact Arrow types back, fixed-size list and timestamp units included', async () => {
    const source = allTypesBatches();
    const table = tableFromIPC(readParquet(await encodeBatches('parquet', source)).intoIPCStream());
    expect(table.schema.fields.map((field) => `${field.name}: ${String(field.type)}`)).toEqual(
      source[0]!.schema.fields.map((field) => `${field.name}: ${String(field.type)}`),
    );
    expect(comparableRows(table.batches)).toEqual(expectedRows());
  });
});

describe('writers over S3', () => {
  let s3: TestS3Server;

  beforeAll(async () => {
    s3 = await startS3Server();
    await s3.createBucket('writers-it');
  });
  afterAll(async () => {
    await s3.close();
  });

  it('writes an Arrow part to S3 that the Arrow reader reads back whole', async () => {
    const uri = 's3://writers-it/job-1/part-00000.arrow';
    const written = await makeWriter('arrow').write(s3.storage, uri, allTypesBatches());
    const info = await s3.storage.stat(uri);
    const stored = await s3.storage.read(uri);
    expect(written).toEqual({
      uri,
      rows: 7,
      bytes: info.size,
      sha256: createHash('sha256').update(stored).digest('hex'),
    });
    const batches: RecordBatch[] = [];
    for await (const batch of makeArrowReader().readPart(s3.storage, {
      uri,
      size: info.size,
      range: { kind: 'whole' },
    })) {
      batches.push(batch);
    }
    expect(comparableRows(batches)).toEqual(expectedRows());
  });
});
