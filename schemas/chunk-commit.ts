import { z } from 'zod';
import { segmentStatsSchema } from './run-report.js';

const count = z.number().int().nonnegative();
/** A SHA-256 digest as Quiver writes it: 64 lowercase hex characters. */
export const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

/**
 * Which attempt of a chunk wrote an object: a random id taken when the attempt starts. It is in every name
 * the attempt writes, so two attempts never write different content under one name (DESIGN invariant 7).
 */
export const attemptIdSchema = z.string().regex(/^[0-9a-z]{6,32}$/);

/** One object a commit references: where it is, how big it is and what its bytes hash to. */
export const writtenObjectSchema = z.object({
  uri: z.string().min(1),
  bytes: count,
  sha256: sha256Hex,
});
export type WrittenObject = z.infer<typeof writtenObjectSchema>;

/** A partition's values by column (`output.partitionBy`), as its folder names them; null: the default partition. */
export const partitionValuesSchema = z.record(z.string(), z.string().nullable());

/**
 * One file of a partitioned segment: the rows of one partition, in that partition's folder. With
 * `output.challengers: "parts"`, one model's file of the segment (`model`: the challenger's name or
 * `champion`), in `model=<name>/` above any partition folders; `partition` is then `{}` without
 * `output.partitionBy`.
 */
export const partitionedPartSchema = writtenObjectSchema.extend({
  partition: partitionValuesSchema,
  rows: count,
  model: z.string().optional(),
});
export type PartitionedPart = z.infer<typeof partitionedPartSchema>;

/** One input object as planning saw it; a read that finds another version fails with `INPUT_CHANGED`. */
export const inputVersionSchema = z.object({
  uri: z.string().min(1),
  etag: z.string().optional(),
  size: count,
});
export type InputVersion = z.infer<typeof inputVersionSchema>;

/**
 * A segment marker (`_segments/part-<i>/<rowStart>-<attempt>.json`): one checkpoint of a chunk, input
 * stream rows `[rowStart, rowEnd)` scored into `part` — or, with `output.partitionBy`, into one file per
 * partition present in it (`partitions`, none for a segment without rows) — refused rows (if any) in
 * `rejected`. Markers written before partitioning have `part` and no `partitions`.
 */
export const segmentCommitSchema = z.object({
  attempt: attemptIdSchema,
  rowStart: count,
  rowEnd: count,
  rows: count,
  rejected: count,
  /** The segment's one part; absent when the job partitions its output (see `partitions`). */
  part: writtenObjectSchema.optional(),
  /** With `output.partitionBy`: the segment's file of each partition it has rows of. */
  partitions: z.array(partitionedPartSchema).optional(),
  rejectedFile: writtenObjectSchema.optional(),
  specDigest: sha256Hex,
  modelSha256: sha256Hex,
  /** With `spec.challengers`: each challenger's digest, by name. */
  challengerSha256: z.record(z.string(), sha256Hex).optional(),
  /** The run report's statistics of the segment's rows (absent in markers written before reports). */
  stats: segmentStatsSchema.optional(),
});
export type SegmentCommit = z.infer<typeof segmentCommitSchema>;

/**
 * A chunk commit marker (`_commits/part-<i>-<attempt>.json`): written before the commit is accepted in
 * Redis; finalize reads only the accepted one. After Redis lost the job, planning adopts a marker only when
 * spec digest, model digest and the chunk's inputs (`inputDigest`) all match the new plan.
 */
export const chunkCommitSchema = z.object({
  index: count,
  attempt: attemptIdSchema,
  /** The chunk's segments in row order: one unless the chunk was resumed from a checkpoint. */
  segments: z.array(segmentCommitSchema),
  rows: count,
  rejected: count,
  bytes: count,
  specDigest: sha256Hex,
  modelSha256: sha256Hex,
  /** With `spec.challengers`: each challenger's digest, by name. */
  challengerSha256: z.record(z.string(), sha256Hex).optional(),
  /** `chunkInputDigest(descriptor)`: the objects, versions and ranges the chunk read. */
  inputDigest: sha256Hex,
  inputs: z.array(inputVersionSchema),
  seconds: z.number().nonnegative(),
});
export type ChunkCommit = z.infer<typeof chunkCommitSchema>;
