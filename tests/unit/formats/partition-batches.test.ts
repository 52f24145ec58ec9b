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
import { outputLayout } from '../../../jobs/output-layout.js';
import { writeSegmentParts } from '../../../jobs/score/segment-parts.js';
import { makeMemoryStorage } from '../../helpers/memory-storage.js';

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

/** `output.challengers: "parts"`: each model's projection of a segment, in its own `model=<name>/` folder. */
describe('segment parts per model', () => {
  const scored = () =>
    new Table({
      id: vectorFromArray([1n, 2n, 3n], new Int64()),
      dt: vectorFromArray(['a', 'b', 'a'], new Utf8()),
      score: vectorFromArray([0.5, 1.5, 2.5], new Float32()),
      'tree.score': vectorFromArray([0.25, 0.75, 1.25], new Float32()),
    });
  const owners = {
    passthrough: ['id', 'dt'],
    champion: ['score'],
    challengers: [{ name: 'tree', columns: ['tree.score'], names: ['score'] }],
  };

  it('projects one model with its columns renamed, zero-copy, and its schema for a part without rows', () => {
    const table = scored();
    const columns = [
      { from: 'id', to: 'id' },
      { from: 'tree.score', to: 'score' },
    ];
    const projected = arrowPartitioner.project([table], table.schema, columns);
    const back = new Table(projected.batches as RecordBatch[]);
    expect(back.schema.fields.map((f) => f.name)).toEqual(['id', 'score']);
    expect(projected.schema.fields.map((f) => f.name)).toEqual(['id', 'score']);
    expect([...back.getChild('score')!]).toEqual([0.25, 0.75, 1.25]);
    expect(back.getChild('score')!.data[0]!.values).toBe(table.getChild('tree.score')!.data[0]!.values);
    expect(() =>
      arrowPartitioner.project([table], table.schema, [{ from: 'nope.score', to: 'score' }]),
    ).toThrow(/"nope\.score"/);
  });

  /** One segment of `scored()` rows (or none) written per model, chunk `index`, attempt `abc123`. */
  async function writeModels(index: number, rowStart: number, withRows: boolean, partitionBy?: string[]) {
    const storage = makeMemoryStorage();
    const layout = outputLayout('s3://out/', 'job1', 'parquet');
    const table = scored();
    const written = await writeSegmentParts({
      storage,
      writer: makeWriter('parquet'),
      layout,
      index,
      attempt: 'abc123',
      rowStart,
      outputs: withRows ? [table] : [],
      schema: table.schema,
      partitionBy,
      partitioner: arrowPartitioner,
      models: owners,
    });
    expect('partitions' in written).toBe(true);
    return { storage, layout, parts: 'partitions' in written ? written.partitions : [] };
  }

  it('writes every model of a segment under model=<name>/, partition folders below, names carrying the attempt', async () => {
    const { storage, layout, parts } = await writeModels(3, 0, true, ['dt']);
    expect(parts.map((p) => [p.uri, p.model, p.partition, p.rows])).toEqual([
      ['s3://out/job1/model=champion/dt=a/part-00003-abc123.parquet', 'champion', { dt: 'a' }, 2],
      ['s3://out/job1/model=champion/dt=b/part-00003-abc123.parquet', 'champion', { dt: 'b' }, 1],
      ['s3://out/job1/model=tree/dt=a/part-00003-abc123.parquet', 'tree', { dt: 'a' }, 2],
      ['s3://out/job1/model=tree/dt=b/part-00003-abc123.parquet', 'tree', { dt: 'b' }, 1],
    ]);
    for (const part of parts) {
      expect(layout.sweepable(part.uri)).toBe(true);
      const back = tableFromIPC(readParquet(storage.objects.get(part.uri)!).intoIPCStream());
      expect(back.schema.fields.map((f: Field) => f.name)).toEqual(['id', 'score']);
    }
    const tree = tableFromIPC(readParquet(storage.objects.get(parts[2]!.uri)!).intoIPCStream());
    expect([...tree.getChild('score')!]).toEqual([0.25, 1.25]);
  });

  it('writes one file a model without partitionBy, even for a segment without rows', async () => {
    const { parts } = await writeModels(0, 4096, false);
    expect(parts.map((p) => [p.uri, p.model, p.partition, p.rows])).toEqual([
      ['s3://out/job1/model=champion/part-00000-abc123-r000000004096.parquet', 'champion', {}, 0],
      ['s3://out/job1/model=tree/part-00000-abc123-r000000004096.parquet', 'tree', {}, 0],
    ]);
  });
});
