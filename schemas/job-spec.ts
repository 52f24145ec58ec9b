import { createHash } from 'node:crypto';
import { z } from 'zod';
import { type OutputFormat, inputFormatSchema, outputFormatSchema } from './chunk-descriptor.js';
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
    /**
     * Whether `key=value` folders in each object's key below `uri` (`dt=2026-11-28/country=de/…`) become
     * columns, typed as DuckDB's `hive_partitioning` types them (BIGINT, DATE, TIMESTAMP, else VARCHAR;
     * `__HIVE_DEFAULT_PARTITION__` is null) and placed after the file's columns. Default false.
     */
    hivePartitioning: z.boolean().optional(),
  })
  .strict();
export type JobInput = z.infer<typeof jobInputSchema>;

/** Codecs of Parquet output (`output.compression`); `none` writes plain pages. */
export const outputCompressionSchema = z.enum(['snappy', 'zstd', 'gzip', 'none']);
export type OutputCompression = z.infer<typeof outputCompressionSchema>;

// The row count goes to arrow-rs as a 32-bit usize in WebAssembly; far above any chunk anyway.
const MAX_ROW_GROUP_ROWS = 2 ** 31 - 1;

/**
 * File options that only Parquet has. No spec field gets a zod default for them (the spec digest of a job
 * written without them stays what it was), so a text format given a codec is refused here, at its path,
 * rather than silently written uncompressed.
 */
function fileOptionIssues(output: {
  format: OutputFormat;
  compression?: OutputCompression | undefined;
  rowGroupRows?: number | undefined;
}): Array<{ path: string[]; message: string }> {
  if (output.format === 'parquet') return [];
  const issues: Array<{ path: string[]; message: string }> = [];
  if (output.compression !== undefined && output.compression !== 'none')
    issues.push({
      path: ['compression'],
      message: `${output.compression} compresses parquet output only; ${output.format} parts are written uncompressed (use "none" or leave it out)`,
    });
  if (output.rowGroupRows !== undefined)
    issues.push({
      path: ['rowGroupRows'],
      message: `rowGroupRows is for parquet output only; ${output.format} has no row groups`,
    });
  return issues;
}

/** `output.layout`: `job` (each job in its own folder under `uri`) or `exact` (directly under `uri`). */
export const outputLayoutModeSchema = z.enum(['job', 'exact']);
export type OutputLayoutMode = z.infer<typeof outputLayoutModeSchema>;

/**
 * `output.partitionBy` names output columns, once each. With an explicit passthrough list that is checked
 * here; with `passthrough: "*"` the input's columns are only known at planning, and a missing one fails
 * the job there (`PARTITION_COLUMN_MISSING`).
 */
function partitionByIssues(output: {
  passthrough: readonly string[] | '*';
  exclude?: readonly string[] | undefined;
  partitionBy?: readonly string[] | undefined;
}): Array<{ path: Array<string | number>; message: string }> {
  const issues: Array<{ path: Array<string | number>; message: string }> = [];
  const seen = new Set<string>();
  for (const [i, column] of (output.partitionBy ?? []).entries()) {
    const path = ['partitionBy', i];
    if (seen.has(column)) issues.push({ path, message: `"${column}" is named twice` });
    seen.add(column);
    if (output.passthrough === '*') {
      if (output.exclude?.includes(column))
        issues.push({ path, message: `"${column}" is excluded from the output (output.exclude)` });
    } else if (!output.passthrough.includes(column)) {
      issues.push({ path, message: `"${column}" is not an output column: add it to output.passthrough` });
    }
  }
  return issues;
}

/** Where the scores go: `<uri>/<jobId>/part-NNNNN.<ext>` (or directly under `uri`) plus the manifest. */
export const jobOutputSchema = z
  .object({
    uri: z.string().min(1),
    format: outputFormatSchema.default('parquet'),
    /**
     * Input columns copied next to the scores: a list, in this order (typically the row's key), or `"*"`
     * for every input column in input order (Hive partition columns last). Default none.
     */
    passthrough: z.union([z.array(z.string().min(1)), z.literal('*')]).default([]),
    /** With `passthrough: "*"` only: input columns left out of the output; each must exist. Default none. */
    exclude: z.array(z.string().min(1)).optional(),
    /**
     * Parquet: the codec of every column chunk, `snappy` (default), `zstd`, `gzip` or `none`. CSV, JSON
     * Lines and Arrow parts are written uncompressed, so for them only `none` is accepted.
     */
    compression: outputCompressionSchema.optional(),
    /**
     * Parquet only: the most rows one row group holds (the last group of a part holds the rest). Default
     * arrow-rs' 1,048,576, which is more than a chunk: each part is then one row group.
     */
    rowGroupRows: z.number().int().min(1).max(MAX_ROW_GROUP_ROWS).optional(),
    /**
     * Where the objects go under `uri`: `job` (default) puts them in a folder of their own,
     * `<uri>/<jobId>/`; `exact` puts parts, `_manifest.json` and `_SUCCESS` directly under `uri` (a table's
     * partition folder), replacing the previous run's content once the new one has succeeded. Optional
     * without a default so specs written without it keep their digest (`outputLayoutOf` reads it).
     */
    layout: outputLayoutModeSchema.optional(),
    /**
     * Output columns to partition by, Hive-style: parts go to `<col>=<value>/…` folders (values escaped as
     * Hive escapes them, null and `""` as `__HIVE_DEFAULT_PARTITION__`) and the columns are left out of the
     * files, as Spark and Hive write them. Each must be an output (passthrough) column. Default none.
     */
    partitionBy: z.array(z.string().min(1)).min(1).optional(),
    /**
     * With `challengers`: `columns` (the default) writes each challenger's outputs into the same parts as
     * `<name>.<column>` after the champion's; `parts` writes each model's outputs, beside the passthrough
     * columns and under the model's own column names, into parts of its own in a Hive folder
     * `model=<name>/` (`model=champion/` for `model`), so a Hive-partitioned read of the job's folder
     * (DuckDB's `hive_partitioning`) gives every model's scores as one long table. No zod default.
     */
    challengers: z.enum(['columns', 'parts']).optional(),
    /**
     * Whether the run report (`_report.json`: per-column statistics, histograms, challenger agreement) is
     * gathered and written. Default true; `false` saves its cost on the worker (about 5 ns a feature value,
     * see README) and allows no `quality` gates. No zod default (digest stability).
     */
    report: z.boolean().optional(),
  })
  .strict()
  .superRefine((output, ctx) => {
    for (const issue of fileOptionIssues(output)) ctx.addIssue({ code: 'custom', ...issue });
    for (const issue of partitionByIssues(output)) ctx.addIssue({ code: 'custom', ...issue });
    if (output.exclude !== undefined && output.passthrough !== '*')
      ctx.addIssue({ code: 'custom', path: ['exclude'], message: 'exclude needs passthrough: "*"' });
  });
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

/** The champion's name where models are named side by side (`output.challengers: "parts"` folders). */
export const CHAMPION_NAME = 'champion';
/** The Hive key of the per-model folders of `output.challengers: "parts"`: `model=<name>/`. */
export const MODEL_FOLDER_KEY = 'model';

/**
 * A challenger's name: it prefixes its output columns (`<name>.<column>`) and names its folder, so it is
 * kept plain; `champion` is the champion's.
 */
const challengerNameSchema = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/, 'expected a letter, then up to 31 letters, digits, _ or -')
  .refine((name) => name !== CHAMPION_NAME, `"${CHAMPION_NAME}" names the champion`);

/**
 * A second model scored on the same decoded rows as `model` (champion/challenger): its outputs sit beside
 * the champion's and the run report compares them. Pinned per job like the champion (its digest resolved at
 * planning when `model.sha256` is absent); its failure fails the job with its name in the error.
 */
export const challengerSpecSchema = z
  .object({
    name: challengerNameSchema,
    model: modelSpecSchema,
    /** Scores in [0, 1]: the report's same-side share is taken around this value. Default 0.5. */
    threshold: z.number().min(0).max(1).optional(),
  })
  .strict();
export type ChallengerSpec = z.infer<typeof challengerSpecSchema>;

/** Most challengers a job scores beside its champion. */
export const MAX_CHALLENGERS = 4;

/**
 * Quality gates over the run report (`_report.json`): each feature's and score's PSI against a baseline
 * report (a URI, or `previous`: the schedule's last succeeded run), and each feature's share of nulls.
 * A violation under `fail` (default) keeps the parts but writes no `_SUCCESS` and fails the job with
 * `QUALITY_GATE_FAILED`; under `warn` the job succeeds and its report and webhook carry the warnings.
 */
export const qualitySpecSchema = z
  .object({
    baseline: z.string().min(1).optional(),
    maxNullFraction: z.number().min(0).max(1).optional(),
    maxPsi: z.number().positive().optional(),
    onViolation: z.enum(['fail', 'warn']).optional(),
  })
  .strict();
export type QualitySpec = z.infer<typeof qualitySpecSchema>;

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
    /** Up to four models scored beside `model` on the same decoded rows. No zod default (digest stability). */
    challengers: z.array(challengerSpecSchema).min(1).max(MAX_CHALLENGERS).optional(),
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
    /**
     * Most seconds the job may take from its start (entering `planning`; a retry starts afresh): past it,
     * running chunks are stopped and the job fails with `JOB_TIMEOUT`, keeping its committed parts for a
     * `retry`. Default: no limit. No zod default, so specs without it keep their digest.
     */
    timeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(365 * 24 * 3600)
      .optional(),
    /**
     * Most seconds the job may wait `queued` (from its submission, or from its retry): a job not started
     * by then becomes `expired` (`JOB_EXPIRED`) without running, like a batch API's completion window.
     * Default: it waits as long as it takes. No zod default (digest stability).
     */
    expiresAfterSeconds: z
      .number()
      .int()
      .min(1)
      .max(365 * 24 * 3600)
      .optional(),
    /** Gates on the run report; no zod default (digest stability). */
    quality: qualitySpecSchema.optional(),
  })
  .strict();

/** Checked on submission (`jobSpecSchemaWithin`), so the plain schema stays extendable. Challenger names are unique; `output.challengers` and a threshold need challengers; gates need a limit. */
function challengerIssues(spec: {
  challengers?: ReadonlyArray<{ name: string }> | undefined;
  output: {
    challengers?: string | undefined;
    report?: boolean | undefined;
    partitionBy?: readonly string[] | undefined;
  };
  quality?: QualitySpec | undefined;
}): Array<{ path: Array<string | number>; message: string }> {
  const issues: Array<{ path: Array<string | number>; message: string }> = [];
  const seen = new Set<string>();
  for (const [i, challenger] of (spec.challengers ?? []).entries()) {
    if (seen.has(challenger.name))
      issues.push({ path: ['challengers', i, 'name'], message: `"${challenger.name}" is named twice` });
    seen.add(challenger.name);
  }
  if (spec.output.challengers !== undefined && !spec.challengers)
    issues.push({ path: ['output', 'challengers'], message: 'needs challengers' });
  if (spec.output.challengers === 'parts' && spec.output.partitionBy?.includes(MODEL_FOLDER_KEY))
    issues.push({
      path: ['output', 'partitionBy'],
      message: `"${MODEL_FOLDER_KEY}" names the model folders of output.challengers: "parts"; partition by another column`,
    });
  const quality = spec.quality;
  if (quality && spec.output.report === false)
    issues.push({ path: ['quality'], message: 'quality gates need the run report (output.report is false)' });
  if (quality && quality.maxPsi === undefined && quality.maxNullFraction === undefined)
    issues.push({ path: ['quality'], message: 'needs maxPsi or maxNullFraction' });
  if (quality?.maxPsi !== undefined && quality.baseline === undefined)
    issues.push({
      path: ['quality', 'baseline'],
      message: 'maxPsi needs a baseline (a report URI or "previous")',
    });
  return issues;
}

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
  let closest = candidates.filter((c) => c.length === fewest);
  // A form that took the value's type and failed only inside it (`["id", 7]` as a column list, not as
  // `"*"`) is closer than one that refused the value whole.
  const inside = closest.filter((c) => c.every((p) => p.path !== '(root)'));
  if (inside.length === 1) closest = inside;
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
    for (const issue of challengerIssues(spec)) ctx.addIssue({ code: 'custom', ...issue });
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
