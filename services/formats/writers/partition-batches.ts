import { type Data, RecordBatch, Schema, Struct, Table, makeData } from 'apache-arrow';
import type { OutputBatch } from '../../../jobs/ports/batches.js';
import type { OutputPartitioner, PartitionRows } from '../../../jobs/ports/output-writers.js';
import { PartitionColumnMissing } from '../../../jobs/score/errors/partition-column-missing.js';
import { type TextDialect, makeCellEncoder } from './jsonl-writer.js';

/**
 * Partition values as text, the way Spark and Hive spell them in folder names: strings as they are,
 * numbers in their shortest round-trip form, dates `YYYY-MM-DD`, timestamps ISO 8601, booleans
 * `true`/`false` — so DuckDB's `hive_partitioning` types them back (BIGINT, DATE, …). Nulls never get
 * here: the caller checks validity first, so a null stays distinct from any text.
 */
const PARTITION_DIALECT: TextDialect = {
  null: '',
  string: (value) => value,
  bigint: (value) => value.toString(),
  nonFinite: (value) => String(value),
  nested: (json) => json,
};

/**
 * `batch` with only the columns `names`. Not `RecordBatch.select`: apache-arrow 21's keeps the batch's
 * old struct children under the new schema, and the IPC stream it then writes has empty buffers.
 */
function project(batch: RecordBatch, names: readonly string[]): RecordBatch {
  const indexes = names.map((name) => batch.schema.fields.findIndex((field) => field.name === name));
  const fields = indexes.map((i) => batch.schema.fields[i]!);
  const children: Data[] = indexes.map((i) => batch.data.children[i]!);
  const data = makeData({ type: new Struct(fields), length: batch.numRows, nullCount: 0, children });
  return new RecordBatch(new Schema(fields, batch.schema.metadata), data);
}

interface Group extends PartitionRows {
  batches: RecordBatch[];
}

/**
 * Splits scored rows by their partition values: each run of consecutive rows with one value becomes a
 * zero-copy slice of its batch, without the partition columns, appended to its partition's group. Input
 * that is grouped by partition (one folder per `dt`, the usual case) therefore costs a few slices per
 * batch; rows that alternate between partitions cost one slice per run.
 */
function split(batches: readonly OutputBatch[], columns: readonly string[]): PartitionRows[] {
  const groups = new Map<string, Group>();
  for (const batch of batches.flatMap((b) => (b instanceof Table ? b.batches : [b as RecordBatch]))) {
    const names = batch.schema.fields.map((field) => field.name);
    const missing = columns.find((column) => !names.includes(column));
    if (missing !== undefined) throw new PartitionColumnMissing(missing, names);
    const kept = project(
      batch,
      names.filter((name) => !columns.includes(name)),
    );
    const vectors = columns.map((column) => batch.getChild(column)!);
    const encoders = vectors.map((vector) => makeCellEncoder(vector, PARTITION_DIALECT));
    const valuesAt = (row: number): Array<string | null> =>
      vectors.map((vector, i) => (vector.isValid(row) ? encoders[i]!(row) : null));
    const add = (values: Array<string | null>, start: number, end: number): void => {
      const key = JSON.stringify(values);
      const slice = kept.slice(start, end);
      let group = groups.get(key);
      if (group === undefined) {
        group = {
          values: Object.fromEntries(columns.map((column, i) => [column, values[i] ?? null])),
          batches: [],
          schema: slice.schema,
          rows: 0,
        };
        groups.set(key, group);
      }
      group.batches.push(slice);
      group.rows += end - start;
    };
    let start = 0;
    let current: Array<string | null> | undefined;
    let currentKey = '';
    for (let row = 0; row < batch.numRows; row++) {
      const values = valuesAt(row);
      const key = JSON.stringify(values);
      if (current !== undefined && key !== currentKey) {
        add(current, start, row);
        start = row;
      }
      current = values;
      currentKey = key;
    }
    if (current !== undefined) add(current, start, batch.numRows);
  }
  return [...groups.values()];
}

/** The pipeline's `OutputPartitioner` over Arrow batches and tables. */
export const arrowPartitioner: OutputPartitioner = { split };
