import { z } from 'zod';
import { outputFormatSchema } from './chunk-descriptor.js';
import { inputVersionSchema, partitionValuesSchema, sha256Hex } from './chunk-commit.js';
import { jobUsageSchema, jobWarningSchema } from './job-record.js';
import { outputLayoutModeSchema } from './job-spec.js';

const count = z.number().int().nonnegative();

/**
 * `_manifest.json`: written by finalize after every part is committed, the only thing readers trust
 * (DESIGN invariant 2). `inputRows = rowsScored + rowsRejected`. It lists exactly the objects of the
 * accepted commits, each with its size and SHA-256, so a reader can verify every byte it downloads.
 */
export const manifestSchema = z.object({
  jobId: z.string().min(1),
  name: z.string().optional(),
  specDigest: z.string(),
  /** The one model every row was scored with (DESIGN invariant 8). */
  modelSha256: z.string().optional(),
  format: outputFormatSchema,
  root: z.string(),
  inputRows: count,
  rowsScored: count,
  rowsRejected: count,
  /** Every input object with the version (etag, size) it was read at. Absent in manifests before v0.2. */
  inputs: z.array(inputVersionSchema).optional(),
  parts: z.array(
    z.object({
      index: count,
      uri: z.string(),
      rows: count,
      bytes: count,
      /** Absent in manifests written before v0.2. */
      sha256: sha256Hex.optional(),
      /** With `output.partitionBy`: the partition whose folder holds the part. */
      partition: partitionValuesSchema.optional(),
      /** With `output.challengers: "parts"`: whose scores the part holds, `champion` or a challenger's name. */
      model: z.string().optional(),
    }),
  ),
  /** `output.layout` of the job: `job` (in `<uri>/<jobId>/`) or `exact` (directly under `uri`). Absent before v0.4. */
  layout: outputLayoutModeSchema.optional(),
  /** With `output.partitionBy`: the partition columns, in folder order. */
  partitionBy: z.array(z.string()).optional(),
  /** With `output.partitionBy`: every partition with rows, its folder under `root` and its rows and parts. */
  partitions: z
    .array(
      z.object({
        values: partitionValuesSchema,
        /** `dt=2026-11-28/…/`, relative to `root`, names and values escaped as Hive does. */
        folder: z.string(),
        rows: count,
        parts: count,
        /** With `output.challengers: "parts"`: the model whose `model=<name>/` folder holds the partition. */
        model: z.string().optional(),
      }),
    )
    .optional(),
  rejected: z.array(
    z.object({
      index: count,
      uri: z.string(),
      rows: count,
      bytes: count.optional(),
      sha256: sha256Hex.optional(),
    }),
  ),
  timings: z.object({
    scoringSeconds: z.number().nonnegative(),
    createdAt: z.string(),
    finishedAt: z.string(),
  }),
  /** The run report (`_report.json`), written beside the manifest. Absent before v0.5. */
  report: z.string().optional(),
  /** The challengers scored beside the champion (`spec.challengers`), each pinned by digest. */
  challengers: z
    .array(z.object({ name: z.string(), uri: z.string(), sha256: sha256Hex.optional() }))
    .optional(),
  /** Quality gates the run broke under `onViolation: warn`. */
  warnings: z.array(jobWarningSchema).optional(),
  /** What the job cost, as its record says when it succeeded. Absent in manifests before v0.3. */
  usage: jobUsageSchema.optional(),
});
export type Manifest = z.infer<typeof manifestSchema>;
