import type { PartitionedPart, WrittenObject } from '../../schemas/chunk-commit.js';
import type { BatchSchema, OutputBatch } from '../ports/batches.js';
import type { BatchWriter, OutputPartitioner } from '../ports/output-writers.js';
import type { Storage } from '../ports/storage.js';
import type { OutputLayout } from '../output-layout.js';
import type { OutputColumnOwners } from '../ports/chunk-scorer.js';
import { CHAMPION_NAME } from '../../schemas/job-spec.js';
import { modelFolder, partitionFolder } from '../output-partitions.js';
import { PartitionColumnMissing } from './errors/partition-column-missing.js';

export interface SegmentPartsInput {
  storage: Storage;
  writer: BatchWriter;
  layout: OutputLayout;
  index: number;
  attempt: string;
  rowStart: number;
  outputs: readonly OutputBatch[];
  schema: BatchSchema | undefined;
  /** `output.partitionBy`; absent or empty: one part. */
  partitionBy: readonly string[] | undefined;
  partitioner: OutputPartitioner | undefined;
  /**
   * With `output.challengers: "parts"`: whose each column is. Each model then gets its own file of the
   * segment, in `model=<name>/`: the passthrough columns and its outputs under its own column names.
   */
  models?: OutputColumnOwners;
  signal?: AbortSignal;
}

/** Each model's columns of a segment, as `output.challengers: "parts"` writes them: name and projection. */
function modelColumns(
  owners: OutputColumnOwners,
): Array<{ name: string; columns: Array<{ from: string; to: string }> }> {
  const same = (name: string) => ({ from: name, to: name });
  return [
    { name: CHAMPION_NAME, columns: [...owners.passthrough, ...owners.champion].map(same) },
    ...owners.challengers.map((c) => ({
      name: c.name,
      columns: [...owners.passthrough.map(same), ...c.columns.map((from, k) => ({ from, to: c.names[k]! }))],
    })),
  ];
}

/**
 * Writes one segment's rows: as its one part, or with `output.partitionBy` as one file per partition
 * present in it, each in its `key=value/` folder and named like the segment (chunk, attempt, first row),
 * so every name still carries the attempt (DESIGN invariant 7) and a rerun of the segment by the same
 * attempt writes the same names. A segment without rows writes no partition file.
 */
export async function writeSegmentParts(
  input: SegmentPartsInput,
): Promise<{ part: WrittenObject } | { partitions: PartitionedPart[] }> {
  if (input.models !== undefined) return writeModelParts(input, input.models);
  return writeRowParts(input);
}

/**
 * `output.challengers: "parts"`: each model's projection of the segment written as the segment's parts
 * are, under `model=<name>/` — one file, or one per partition with `output.partitionBy`.
 */
async function writeModelParts(
  input: SegmentPartsInput,
  owners: OutputColumnOwners,
): Promise<{ partitions: PartitionedPart[] }> {
  const { partitioner, schema } = input;
  if (partitioner === undefined || schema === undefined)
    throw new TypeError('output.challengers "parts" needs the output partitioner and the rows\' schema');
  const partitions: PartitionedPart[] = [];
  const rows = input.outputs.reduce((n, batch) => n + batch.numRows, 0);
  for (const model of modelColumns(owners)) {
    const projected = partitioner.project(input.outputs, schema, model.columns);
    const written = await writeRowParts(
      { ...input, outputs: projected.batches, schema: projected.schema },
      modelFolder(model.name),
    );
    if ('part' in written) partitions.push({ ...written.part, partition: {}, rows, model: model.name });
    else partitions.push(...written.partitions.map((p) => ({ ...p, model: model.name })));
  }
  return { partitions };
}

/** The segment's rows as one part, or one file per partition; `folder` (`model=<name>/`) above them. */
async function writeRowParts(
  input: SegmentPartsInput,
  folder = '',
): Promise<{ part: WrittenObject } | { partitions: PartitionedPart[] }> {
  const { storage, writer, layout, index, attempt, rowStart, outputs, schema, signal } = input;
  const partitionBy = input.partitionBy ?? [];
  if (partitionBy.length === 0) {
    const part = await writer.write(
      storage,
      layout.segmentPart(index, attempt, rowStart, folder || undefined),
      outputs,
      schema ? { schema, signal } : { signal },
    );
    return { part: { uri: part.uri, bytes: part.bytes, sha256: part.sha256 } };
  }
  if (input.partitioner === undefined) throw new PartitionColumnMissing(partitionBy[0]!, []);
  // Rows are there but the schema lacks a column: the same error a split would give, before any write.
  const names = schema?.fields.map((field) => field.name);
  const absent = names && partitionBy.find((column) => !names.includes(column));
  if (names && absent !== undefined) throw new PartitionColumnMissing(absent, names);
  const partitions: PartitionedPart[] = [];
  for (const group of input.partitioner.split(outputs, partitionBy)) {
    signal?.throwIfAborted();
    const uri = layout.segmentPart(
      index,
      attempt,
      rowStart,
      `${folder}${partitionFolder(partitionBy, group.values)}`,
    );
    const part = await writer.write(storage, uri, group.batches, { schema: group.schema, signal });
    partitions.push({
      uri: part.uri,
      bytes: part.bytes,
      sha256: part.sha256,
      partition: group.values,
      rows: group.rows,
    });
  }
  return { partitions };
}
