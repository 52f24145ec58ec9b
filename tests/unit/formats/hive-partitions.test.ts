import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBDateValue, DuckDBInstance, DuckDBTimestampValue } from '@duckdb/node-api';
import { DataType, type RecordBatch, tableFromArrays } from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import type { HiveColumn } from '../../../schemas/chunk-descriptor.js';
import { HivePartitionsMismatch } from '../../../services/formats/errors/hive-partitions-mismatch.js';
import type { FormatReader } from '../../../services/formats/format-reader.js';
import {
  inferHiveColumns,
  makeHiveValues,
  withHivePartitions,
} from '../../../services/formats/hive-partitions.js';

/** Listings whose folders DuckDB types and decodes in its own ways; each is checked against DuckDB. */
const listings: Record<string, string[]> = {
  'date, string with an escaped slash, integer': [
    'dt=2026-11-28/country=de/hour=7/',
    'dt=2026-1-5/country=fr%2Fbe/hour=23/',
  ],
  'a zero-padded hour stays a string': ['hour=07/', 'hour=23/'],
  'integers DuckDB reads its way': ['k=0x10/', 'k=-0/', 'k=9223372036854775807/'],
  'timestamps, an offset, midnight as 24:00 and a null partition': [
    't=2026-01-05T07:08:09+02:00/',
    't=2026-01-05T24:00:00/',
    't=2026-01-05 07:08:09.1234567/',
    't=__HIVE_DEFAULT_PARTITION__/',
  ],
  'dates by name and before year 100': ['d=epoch/', 'd=infinity/', 'd=0099-01-01/'],
  'escapes decoded, a plus kept, an empty value': ['s=%41%/', 's=b c+d/', 's=%E2%82%AC/', 's=/'],
  'folders that are not partitions': ['raw/y=2026/', 'other/y=2025/'],
  'keys whose values vary apart (probed by distinct value, not by folder)': [
    'a=1/b=x/c=2026-01-01/',
    'b=x/a=2/c=2026-01-01/',
    'a=3/b=07/c=2026-01-02/',
    'a=3/b=x/c=abc/',
  ],
};

const values = makeHiveValues();

/** What `promise` rejects with (fails the test when it resolves). */
async function thrown(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error,
  );
}
afterAll(() => values.close());

/** DuckDB's columns (name, type) and each folder's values over probe files at `folders`. */
async function duckdbReads(folders: readonly string[]) {
  const dir = await mkdtemp(join(tmpdir(), 'quiver-hive-test-'));
  const duck = await DuckDBInstance.create(':memory:');
  const db = await duck.connect();
  try {
    for (const [i, folder] of folders.entries()) {
      await mkdir(join(dir, folder), { recursive: true });
      await writeFile(join(dir, folder, 'f.csv'), `probe_row\n${i}\n`);
    }
    const select = `SELECT * FROM read_csv('${dir}/**/f.csv', hive_partitioning = true) ORDER BY probe_row`;
    const columns = (await db.runAndReadAll(`DESCRIBE ${select}`))
      .getRows()
      .slice(1)
      .map(([name, type]) => ({ name: String(name), type: String(type) }));
    const rows = (await db.runAndReadAll(select)).getRows().map((row) =>
      row.slice(1).map((v) => {
        if (v instanceof DuckDBDateValue) return v.days;
        if (v instanceof DuckDBTimestampValue) return v.micros;
        return v;
      }),
    );
    return { columns, rows };
  } finally {
    db.closeSync();
    duck.closeSync();
    await rm(dir, { recursive: true, force: true });
  }
}

/** A reader of one row (`x = 1`) per part, whatever the part. */
const oneRow: FormatReader = {
  async *readPart() {
    await Promise.resolve();
    yield tableFromArrays({ x: Int32Array.from([1]) }).batches[0]!;
  },
};

async function read(reader: FormatReader, uri: string, options: Parameters<FormatReader['readPart']>[2]) {
  const batches: RecordBatch[] = [];
  for await (const batch of reader.readPart({} as never, { uri, size: 1, range: { kind: 'whole' } }, options))
    batches.push(batch);
  return batches;
}

/** The raw value of row 0 of a column: days, micros, bigint or string, as DuckDB's values read above. */
function rawAt(batch: RecordBatch, name: string): unknown {
  const child = batch.getChild(name)!;
  if (!child.isValid(0)) return null;
  if (DataType.isUtf8(child.type)) return child.get(0) as string;
  // Dates as days and timestamps as microseconds: the stored values, as DuckDB's values above.
  return (child.data[0]!.values as ArrayLike<unknown>)[0];
}

describe('Hive partition columns, against DuckDB', () => {
  for (const [name, folders] of Object.entries(listings)) {
    it(`types and reads them as DuckDB does: ${name}`, async () => {
      const want = await duckdbReads(folders);
      const columns = await inferHiveColumns(folders);
      expect(columns).toEqual(want.columns);
      const reader = withHivePartitions(oneRow, values);
      for (const [i, folder] of folders.entries()) {
        const [batch] = await read(reader, `file:///data/${folder}part.csv`, {
          hive: { prefix: 'file:///data/', columns },
        });
        expect(batch!.schema.fields.map((f) => f.name)).toEqual(['x', ...columns.map((c) => c.name)]);
        expect(
          columns.map((c) => rawAt(batch!, c.name)),
          folder,
        ).toEqual(want.rows[i]);
      }
    });
  }

  it('refuses folders that name different keys, naming two of them, where DuckDB refuses them too', async () => {
    for (const folders of [
      ['a=1/', 'b=2/'],
      ['a=1/b=2/', 'a=1/'],
      ['', 'a=1/'],
    ]) {
      await expect(duckdbReads(folders)).rejects.toThrow(/hive partition mismatch/i);
      const error = await thrown(inferHiveColumns(folders));
      expect(error).toBeInstanceOf(HivePartitionsMismatch);
      expect((error as HivePartitionsMismatch).message).toContain(`"${folders[0]}" has`);
      expect((error as HivePartitionsMismatch).message).toContain(`"${folders[1]}" has`);
    }
  });

  it('has no columns, and asks DuckDB nothing, when no folder is a partition', async () => {
    expect(await inferHiveColumns(['', 'raw/'])).toEqual([]);
  });

  it('adds only the partition columns a projection names, in its place a file column of the same name', async () => {
    const columns: HiveColumn[] = [
      { name: 'x', type: 'BIGINT' },
      { name: 'dt', type: 'DATE' },
    ];
    let asked: string[] | undefined;
    const spy: FormatReader = {
      async *readPart(storage, part, options) {
        asked = options?.columns;
        yield* oneRow.readPart(storage, part, options);
      },
    };
    const reader = withHivePartitions(spy, values);
    const [all] = await read(reader, 'file:///d/x=5/dt=2026-11-28/p.csv', {
      hive: { prefix: 'file:///d/', columns },
    });
    expect(all!.schema.fields.map((f) => `${f.name}:${String(f.type)}`)).toEqual([
      'x:Int64',
      'dt:Date32<DAY>',
    ]);
    expect(rawAt(all!, 'x')).toBe(5n);
    const [named] = await read(reader, 'file:///d/x=5/dt=2026-11-28/p.csv', {
      hive: { prefix: 'file:///d/', columns },
      columns: ['dt'],
    });
    expect(asked).toEqual([]);
    expect(named!.schema.fields.map((f) => f.name)).toEqual(['x', 'dt']);
  });

  it('fails a part whose key lacks a partition folder, or whose value is not of the type, naming both', async () => {
    const reader = withHivePartitions(oneRow, values);
    const hive = { prefix: 'file:///d/', columns: [{ name: 'hour', type: 'BIGINT' as const }] };
    expect(await thrown(read(reader, 'file:///d/other/p.csv', { hive }))).toMatchObject({
      code: 'SCHEMA_MISMATCH',
      location: { uri: 'file:///d/other/p.csv', column: 'hour' },
    });
    expect(await thrown(read(reader, 'file:///d/hour=07x/p.csv', { hive }))).toMatchObject({
      code: 'VALUE_INVALID',
      location: { uri: 'file:///d/hour=07x/p.csv', column: 'hour' },
    });
  });
});
