import { z } from 'zod';
import { outputFormatSchema } from './chunk-descriptor.js';
import { inputVersionSchema, sha256Hex } from './chunk-commit.js';
import { jobUsageSchema } from './job-record.js';

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
    }),
  ),
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
  /** What the job cost, as its record says when it succeeded. Absent in manifests before v0.3. */
  usage: jobUsageSchema.optional(),
});
export type Manifest = z.infer<typeof manifestSchema>;
