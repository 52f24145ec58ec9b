import type { Field, RecordBatch, Schema } from 'apache-arrow';
import {
  DateDay,
  Float32,
  Int64,
  Table,
  tableFromArrays,
  tableFromIPC,
  vectorFromArray,
  Utf8,
} from 'apache-arrow';
import { readParquet } from 'parquet-wasm';
import { describe, expect, it } from 'vitest';
import { PartitionColumnMissing } from '../../../jobs/score/errors/partition-column-missing.js';
import { arrowPartitioner } from '../../../services/formats/writers/partition-batches.js';
import { makeWriter } from '../../../services/formats/writers/make-writer.js';

/** `output.partitionBy`'s split of scored rows: groups by value text, rows kept in order, columns dropped. */
describe('arrowPartitioner', () => {
  const rows = (table: { batches: readonly RecordBatch[] }) =>
    table.batches.flatMap((b) => b.toArray().map((r) => r.toJSON() as Record<string, unknown>));

  const scored = () =>
    new Table({
      id: vectorFromArray([1n, 2n, 3n, 4n, 5n, 6n], new Int64()),
      dt: vectorFromArray(['a/b', 'x', 'a/b', null, 'x', null], new Utf8()),
      day: vectorFromArray([0, 86_400_000, 0, 0, 86_400_000, 0], new DateDay()),
      score: vectorFromArray([0.5, 1.5, 2.5, 3.5, 4.5, 5.5], new Float32()),
    });

  it('groups rows by their values in first-seen order, without the partition columns', () => {
    const groups = arrowPartitioner.split([scored()], ['dt']);
    expect(groups.map((g) => [g.values, g.rows])).toEqual([
      [{ dt: 'a/b' }, 2],
      [{ dt: 'x' }, 2],
      [{ dt: null }, 2],
    ]);
    expect(groups.map((g) => g.schema.fields.map((f) => f.name))).toEqual(
      Array(3).fill(['id', 'day', 'score']),
    );
    expect(groups.map((g) => rows(new Table(g.batches as RecordBatch[])).map((r) => r.id))).toEqual([
      [1n, 3n],
      [2n, 5n],
      [4n, 6n],
    ]);
  });

  it('spells dates as Hive does and splits on every column given', () => {
    const groups = arrowPartitioner.split([scored()], ['day', 'dt']);
    expect(groups.map((g) => g.values)).toEqual([
      { day: '1970-01-01', dt: 'a/b' },
      { day: '1970-01-02', dt: 'x' },
      { day: '1970-01-01', dt: null },
    ]);
  });

  it('writes each group as a Parquet file that reads back with its rows', async () => {
    const batches = [...scored().batches, ...scored().batches];
    for (const group of arrowPartitioner.split(batches, ['dt'])) {
      const bytes = await makeWriter('parquet').encode(group.batches as RecordBatch[], {
        schema: group.schema as Schema,
      });
      const back = tableFromIPC(readParquet(bytes).intoIPCStream());
      expect(back.numRows).toBe(group.rows);
      expect(back.schema.fields.map((f: Field) => f.name)).toEqual(['id', 'day', 'score']);
    }
  });

  it('refuses rows without a partition column', () => {
    expect(() => arrowPartitioner.split([tableFromArrays({ id: [1, 2] })], ['dt'])).toThrow(
      PartitionColumnMissing,
    );
  });
});
