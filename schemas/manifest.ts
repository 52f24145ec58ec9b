import { z } from 'zod';
import { outputFormatSchema } from './chunk-descriptor.js';

const count = z.number().int().nonnegative();

/**
 * `_manifest.json`: written by finalize after every part is committed, the only thing readers trust
 * (DESIGN invariant 2). `inputRows = rowsScored + rowsRejected`.
 */
export const manifestSchema = z.object({
  jobId: z.string().min(1),
  name: z.string().optional(),
  specDigest: z.string(),
  modelSha256: z.string().optional(),
  format: outputFormatSchema,
  root: z.string(),
  inputRows: count,
  rowsScored: count,
  rowsRejected: count,
  parts: z.array(z.object({ index: count, uri: z.string(), rows: count, bytes: count })),
  rejected: z.array(z.object({ index: count, uri: z.string(), rows: count })),
  timings: z.object({
    scoringSeconds: z.number().nonnegative(),
    createdAt: z.string(),
    finishedAt: z.string(),
  }),
});
export type Manifest = z.infer<typeof manifestSchema>;
