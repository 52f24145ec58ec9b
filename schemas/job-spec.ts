import { createHash } from 'node:crypto';
import { z } from 'zod';
import { inputFormatSchema, outputFormatSchema } from './chunk-descriptor.js';
import { type DeviceClass, deviceClassSchema } from './device-class.js';
import { JobSpecInvalid, type JobSpecProblem } from './errors/job-spec-invalid.js';
import { batchSpecSchema, modelSpecSchema } from './model-spec.js';
import { type SpecLimits, specLimitDefaults, specLimitIssues } from './spec-limits.js';

/** Where the rows come from: one object, or every object under a prefix (optionally filtered by a glob). */
export const jobInputSchema = z
  .object({
    /** `s3://bucket/key`, `s3://bucket/prefix/`, `file:///path` or `file:///dir/`. */
    uri: z.string().min(1),
    format: inputFormatSchema,
    /** Glob over object keys relative to `uri` (e.g. `dt=*\/*.parquet`); default: the format's extensions. */
    glob: z.string().min(1).optional(),
    /** CSV only: whether each object starts with a header record. Default true; ignored for other formats. */
    header: z.boolean().default(true),
  })
  .strict();
export type JobInput = z.infer<typeof jobInputSchema>;

/** Where the scores go: `<uri>/<jobId>/part-NNNNN.<ext>` plus the manifest. */
export const jobOutputSchema = z
  .object({
    uri: z.string().min(1),
    format: outputFormatSchema.default('parquet'),
    /** Input columns copied next to the scores, in this order (typically the row's key). Default none. */
    passthrough: z.array(z.string().min(1)).default([]),
  })
  .strict();
export type JobOutput = z.infer<typeof jobOutputSchema>;

/**
 * The job's error policy for bad rows. `fail` (default) fails the job on the first invalid row; `skip`
 * writes invalid rows to `rejected/` and fails the job only when their share exceeds `maxInvalidFraction`.
 */
export const jobErrorPolicySchema = z
  .object({
    onInvalidRow: z.enum(['fail', 'skip']).default('fail'),
    maxInvalidFraction: z.number().min(0).max(1).default(0),
  })
  .strict();
export type JobErrorPolicy = z.infer<typeof jobErrorPolicySchema>;

const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' });

/** A signing secret in the Standard Webhooks form `whsec_<base64>`. */
const webhookSecret = z.string().regex(/^whsec_\S+$/, 'expected a secret starting with "whsec_"');

/** Standard Webhooks endpoint notified on job.succeeded / job.failed / job.cancelled. */
export const jobWebhookSchema = z
  .object({
    url: httpUrl,
    /** Signing secret in the Standard Webhooks form `whsec_<base64>`. */
    secret: webhookSecret,
    /**
     * The secret being rotated out, while receivers switch over; optional. Deliveries then carry a
     * signature made with each secret (`webhook-signature: v1,<new> v1,<previous>`), so a receiver that
     * still holds the old one keeps verifying. Drop it once every receiver has the new secret.
     */
    previousSecret: webhookSecret.optional(),
  })
  .strict();
export type JobWebhook = z.infer<typeof jobWebhookSchema>;

/** What the job's chunks need from the worker that scores them. */
export const jobResourcesSchema = z
  .object({
    /**
     * `cpu`, `gpu` or `any` (default): which workers may take its chunks. A `gpu` job on a deployment
     * without a GPU worker waits until one starts.
     */
    device: deviceClassSchema.default('any'),
  })
  .strict();
export type JobResources = z.infer<typeof jobResourcesSchema>;

const MAX_LABEL_CHARS = 128;

/**
 * Free-form tags for listing and billing; bounded so a record stays small in Redis (how many: `SpecLimits`,
 * default 32).
 */
export const jobLabelsSchema = z.record(
  z.string().min(1).max(MAX_LABEL_CHARS),
  z.string().max(MAX_LABEL_CHARS),
);

/**
 * The job spec users write (DESIGN.md "Public contract (v1)"). Unknown fields are refused at every level.
 * Submission also holds it to `SpecLimits` (see {@link jobSpecSchemaWithin}); stored records are parsed
 * with this schema alone.
 */
export const jobSpecSchema = z
  .object({
    name: z.string().min(1).max(200).optional(),
    input: jobInputSchema,
    model: modelSpecSchema,
    output: jobOutputSchema,
    // prefault: the default goes through the schema, so its own defaults are filled in.
    batch: batchSpecSchema.prefault({}),
    errors: jobErrorPolicySchema.prefault({}),
    webhook: jobWebhookSchema.optional(),
    /** 1 = most urgent, 10 = least; default 5. */
    priority: z.number().int().min(1).max(10).default(5),
    labels: jobLabelsSchema.default({}),
    // No default object: a spec written without it keeps the digest it had before device classes
    // (idempotency keys and adopted commits compare digests); `deviceClassOf` reads it.
    resources: jobResourcesSchema.optional(),
  })
  .strict();

/** A validated spec with every default filled in. */
export type JobSpec = z.output<typeof jobSpecSchema>;
/** What a user may write: defaults optional. */
export type JobSpecInput = z.input<typeof jobSpecSchema>;

/** The device class a spec's chunks are queued under: `resources.device`, `any` when not given. */
export function deviceClassOf(spec: Pick<JobSpec, 'resources'>): DeviceClass {
  return spec.resources?.device ?? 'any';
}

function problemPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((key) => (typeof key === 'number' ? `[${key}]` : String(key)))
    .join('.')
    .replace(/\.\[/g, '[');
}

/**
 * Flattens zod issues into path + message pairs. A failed union reports the alternative that came closest
 * (fewest problems), so `{ columns: [...], nulls: 'x' }` points at `nulls` rather than at every other form.
 * Schedules use it too: their job template is a job spec.
 */
export function problemsOf(
  issues: readonly z.core.$ZodIssue[],
  base: readonly PropertyKey[] = [],
): JobSpecProblem[] {
  const problems: JobSpecProblem[] = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        problems.push({ path: problemPath([...path, key]), message: 'unknown field' });
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      problems.push(...unionProblems(issue.errors, path));
    } else {
      problems.push({ path: problemPath(path), message: issue.message });
    }
  }
  return problems;
}

function unionProblems(
  branches: readonly (readonly z.core.$ZodIssue[])[],
  path: readonly PropertyKey[],
): JobSpecProblem[] {
  const candidates = branches.map((branch) => problemsOf(branch));
  const fewest = Math.min(...candidates.map((c) => c.length));
  const closest = candidates.filter((c) => c.length === fewest);
  if (closest.length === 1 && closest[0])
    return problemsOf(branches[candidates.indexOf(closest[0])] ?? [], path);
  // Several forms are equally close: say what each expected, on the union's own path.
  const forms = closest.map((c) =>
    c.map((p) => (p.path === '(root)' ? p.message : `${p.path}: ${p.message}`)).join(', '),
  );
  return [{ path: problemPath(path), message: `matches no accepted form (${forms.join(' | ')})` }];
}

/**
 * The job spec schema with the submission limits checked too (`limits` over `specLimitDefaults`): a string,
 * list or label count over its limit, or a `chunkRows` under it, is an issue at its field's path. Limits are
 * checked once the spec is valid in shape.
 */
export function jobSpecSchemaWithin(limits: SpecLimits = {}) {
  const bounds = { ...specLimitDefaults, ...limits };
  return jobSpecSchema.superRefine((spec, ctx) => {
    for (const issue of specLimitIssues(spec, bounds)) ctx.addIssue({ code: 'custom', ...issue });
  });
}

const submittedJobSpecSchema = jobSpecSchemaWithin();

/**
 * Validates a submitted job spec, limits included (`limits`: the defaults of `SpecLimits` unless given),
 * and fills its defaults; throws `JobSpecInvalid` listing every problem with its path.
 */
export function parseJobSpec(input: unknown, limits?: SpecLimits): JobSpec {
  const schema = limits === undefined ? submittedJobSpecSchema : jobSpecSchemaWithin(limits);
  const result = schema.safeParse(input, {
    error: (issue) => (issue.code === 'invalid_type' && issue.input === undefined ? 'required' : undefined),
  });
  if (!result.success) throw new JobSpecInvalid(problemsOf(result.error.issues));
  return result.data;
}

/** JSON with object keys sorted at every depth, so equal values always serialize the same way. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return Object.fromEntries(entries);
  });
}

/** SHA-256 hex of the spec's canonical JSON: equal specs (whatever their key order) share a digest. */
export function specDigest(spec: JobSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex');
}
