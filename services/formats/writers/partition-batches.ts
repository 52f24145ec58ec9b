import { type Data, Field, RecordBatch, Schema, Struct, Table, makeData } from 'apache-arrow';
import type { BatchSchema, OutputBatch } from '../../../jobs/ports/batches.js';
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
 * `batch` with only the columns `names` (renamed to `as`, when given). Not `RecordBatch.select`:
 * apache-arrow 21's keeps the batch's old struct children under the new schema, and the IPC stream it then
 * writes has empty buffers.
 */
function project(batch: RecordBatch, names: readonly string[], as: readonly string[] = names): RecordBatch {
  const indexes = names.map((name) => batch.schema.fields.findIndex((field) => field.name === name));
  const fields = indexes.map((i, k) => renamed(batch.schema.fields[i]!, as[k]!));
  const children: Data[] = indexes.map((i) => batch.data.children[i]!);
  const data = makeData({ type: new Struct(fields), length: batch.numRows, nullCount: 0, children });
  return new RecordBatch(new Schema(fields, batch.schema.metadata), data);
}

function renamed(field: Field, name: string): Field {
  return field.name === name ? field : new Field(name, field.type, field.nullable, field.metadata);
}

function batchesOf(batches: readonly OutputBatch[]): RecordBatch[] {
  return batches.flatMap((b) => (b instanceof Table ? b.batches : [b as RecordBatch]));
}

/** One model's columns of a segment (`output.challengers: "parts"`): a zero-copy projection per batch. */
function projectColumns(
  batches: readonly OutputBatch[],
  schema: BatchSchema,
  columns: ReadonlyArray<{ from: string; to: string }>,
): { batches: OutputBatch[]; schema: BatchSchema } {
  const from = columns.map((c) => c.from);
  const to = columns.map((c) => c.to);
  const arrowSchema = schema as Schema;
  const missing = from.find((name) => !arrowSchema.fields.some((field) => field.name === name));
  if (missing !== undefined) throw new TypeError(`output column "${missing}" is not in the scored rows`);
  const fields = from.map((name, k) =>
    renamed(
      arrowSchema.fields.find((f) => f.name === name)!,
      to[k]!,
    ),
  );
  return {
    batches: batchesOf(batches).map((batch) => project(batch, from, to)),
    schema: new Schema(fields, arrowSchema.metadata),
  };
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
  for (const batch of batchesOf(batches)) {
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
export const arrowPartitioner: OutputPartitioner = { split, project: projectColumns };
