import type { PartitionedPart, WrittenObject } from '../../schemas/chunk-commit.js';
import type { BatchSchema, OutputBatch } from '../ports/batches.js';
import type { BatchWriter, OutputPartitioner } from '../ports/output-writers.js';
import type { Storage } from '../ports/storage.js';
import type { OutputLayout } from '../output-layout.js';
import { partitionFolder } from '../output-partitions.js';
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
  signal?: AbortSignal;
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
  const { storage, writer, layout, index, attempt, rowStart, outputs, schema, signal } = input;
  const partitionBy = input.partitionBy ?? [];
  if (partitionBy.length === 0) {
    const part = await writer.write(
      storage,
      layout.segmentPart(index, attempt, rowStart),
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
    const uri = layout.segmentPart(index, attempt, rowStart, partitionFolder(partitionBy, group.values));
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
