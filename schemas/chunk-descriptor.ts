import { z } from 'zod';

/** Input formats Quiver reads. */
export const inputFormatSchema = z.enum(['parquet', 'arrow', 'csv', 'jsonl']);
export type InputFormat = z.infer<typeof inputFormatSchema>;

/** Output formats Quiver writes; Parquet is the default. */
export const outputFormatSchema = z.enum(['parquet', 'arrow', 'csv', 'jsonl']);
export type OutputFormat = z.infer<typeof outputFormatSchema>;

const nonNegativeInt = z.number().int().nonnegative();

/**
 * Which part of one object a chunk reads.
 * - `rowGroups`: Parquet row groups `[start, end)`; `rowOffset` is the index of the first row in the file.
 * - `bytes`: CSV/JSONL records whose first byte lies in `[start, end)`; `rowOffset`, when the planner counted
 *   records (CSV), lets errors name the exact row.
 * - `whole`: the whole object (Arrow IPC, small files).
 */
export const chunkRangeSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('rowGroups'),
    start: nonNegativeInt,
    end: nonNegativeInt,
    rowOffset: nonNegativeInt,
  }),
  z.object({
    kind: z.literal('bytes'),
    start: nonNegativeInt,
    end: nonNegativeInt,
    /** CSV: index of the part's first record among the object's data records (blank lines count). */
    rowOffset: nonNegativeInt.optional(),
  }),
  z.object({ kind: z.literal('whole') }),
]);
export type ChunkRange = z.infer<typeof chunkRangeSchema>;

/** One slice of one input object inside a chunk. */
export const chunkPartSchema = z.object({
  uri: z.string().min(1),
  /** Object size in bytes when planned; a changed size means the input changed under the job. */
  size: nonNegativeInt,
  etag: z.string().optional(),
  range: chunkRangeSchema,
  /** Rows in this part when known at plan time (Parquet), else absent. */
  rows: nonNegativeInt.optional(),
});
export type ChunkPart = z.infer<typeof chunkPartSchema>;

/** The types DuckDB's `hive_partitioning` gives partition columns (it tries DATE, TIMESTAMP, BIGINT). */
export const hiveColumnTypeSchema = z.enum(['BIGINT', 'DATE', 'TIMESTAMP', 'VARCHAR']);
export type HiveColumnType = z.infer<typeof hiveColumnTypeSchema>;

/** One Hive partition column (`input.hivePartitioning`): its name and the type planning inferred. */
export const hiveColumnSchema = z.object({ name: z.string().min(1), type: hiveColumnTypeSchema });
export type HiveColumn = z.infer<typeof hiveColumnSchema>;

/**
 * A chunk descriptor: what one score job reads. It is the whole payload of a queue job, so it stays a few
 * hundred bytes (DESIGN.md invariant 1); the planner keeps its JSON under `MAX_DESCRIPTOR_BYTES`.
 */
export const chunkDescriptorSchema = z.object({
  /** Zero-based, dense and deterministic for the same listing and plan options. */
  index: nonNegativeInt,
  format: inputFormatSchema,
  parts: z.array(chunkPartSchema).min(1),
  /** Sum of the parts' rows when all are known. */
  rows: nonNegativeInt.optional(),
  /** Bytes of input this chunk reads (compressed bytes for Parquet). */
  bytes: nonNegativeInt,
  /**
   * `input.hivePartitioning`: the partition columns every part gets, in DuckDB's order, typed once for the
   * whole job at planning; each part's values come from its own URI. Absent otherwise.
   */
  hive: z.array(hiveColumnSchema).optional(),
});
export type ChunkDescriptor = z.infer<typeof chunkDescriptorSchema>;

/** Upper bound on a descriptor's JSON size; Redis memory per pending chunk stays bounded by it. */
export const MAX_DESCRIPTOR_BYTES = 1536;
