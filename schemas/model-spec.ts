import { z } from 'zod';

const sha256Hex = z
  .string()
  .regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex characters (a SHA-256 digest)')
  .transform((s) => s.toLowerCase());

/**
 * What to do with a row whose mapped feature is null: fail the job, reject the row (it goes to the rejected
 * output with the reason), or fill the value in.
 */
export const nullPolicySchema = z.union([
  z.literal('fail'),
  z.literal('reject'),
  z.object({ fill: z.number() }).strict(),
]);
export type NullPolicy = z.infer<typeof nullPolicySchema>;

const nulls = nullPolicySchema.default('fail');

/**
 * How one model input is built from the data's columns: a list of columns (in order), the columns whose
 * names match a regex (in the data's column order), or one list / fixed-size-list column.
 */
export const inputMappingSchema = z.union([
  z.object({ columns: z.array(z.string().min(1)).min(1), nulls }).strict(),
  z.object({ columnsMatching: z.string().min(1), nulls }).strict(),
  z.object({ listColumn: z.string().min(1), nulls }).strict(),
]);
export type InputMapping = z.infer<typeof inputMappingSchema>;

/**
 * Where a model output goes: `[N]`/`[N,1]` → one column; `[N,k]` → k named columns, or one list column.
 */
export const outputMappingSchema = z.union([
  z.object({ column: z.string().min(1) }).strict(),
  z.object({ columns: z.array(z.string().min(1)).min(1) }).strict(),
  z.object({ listColumn: z.string().min(1) }).strict(),
]);
export type OutputMapping = z.infer<typeof outputMappingSchema>;

export const modelSpecSchema = z
  .object({
    /** `s3://…` or `file://…` URI of the .onnx file. */
    uri: z.string().min(1),
    /** When given, the model is refused unless its bytes hash to this. */
    sha256: sha256Hex.optional(),
    /** Model input name → mapping. Absent: the single-input default (see `resolveFeatureMapping`). */
    inputs: z.record(z.string().min(1), inputMappingSchema).optional(),
    /** Model output name → mapping. Absent: every tensor output under its own name. */
    outputs: z.record(z.string().min(1), outputMappingSchema).optional(),
  })
  .strict();
export type ModelSpec = z.infer<typeof modelSpecSchema>;

/** `rows`: rows per inference call; `auto` tunes it on real data per (model digest, device). */
export const batchSpecSchema = z
  .object({
    rows: z.union([z.literal('auto'), z.number().int().positive().max(16_777_216)]).default('auto'),
    /** Target rows per chunk; default 500,000, at least 1,000 when submitted (`SpecLimits.minChunkRows`). */
    chunkRows: z.number().int().positive().default(500_000),
  })
  .strict();
export type BatchSpec = z.infer<typeof batchSpecSchema>;
