import type { JobSpec } from './job-spec.js';
import type { InputMapping, OutputMapping } from './model-spec.js';

/**
 * Bounds on what one job spec may ask for, checked when a spec is submitted (`parseJobSpec`: the API, the
 * CLI and schedule runs alike), so that one tenant's spec cannot cost the others: Redis memory per record,
 * queue and commit work per chunk, per-row work per column. A broken limit is a problem at its field's
 * path, like any other. Stored records are not checked again: a job accepted under other limits stays
 * readable.
 */
export interface SpecLimits {
  /**
   * Longest string anywhere in the spec, the keys of `labels` and of the model's mappings included, in
   * UTF-8 bytes. Default 2,048 (2 KiB).
   */
  maxStringBytes?: number;
  /**
   * Most columns one list may name (`output.passthrough`, `output.exclude`, a mapping's `columns`), and most entries in
   * `model.inputs` or `model.outputs`. Default 1,000.
   */
  maxColumns?: number;
  /** Most labels. Default 32. */
  maxLabels?: number;
  /**
   * Smallest `batch.chunkRows`. Default 1,000: a smaller chunk costs more in queueing, locking and commit
   * markers than it scores, and many row groups at a tiny chunk size would plan millions of chunks.
   */
  minChunkRows?: number;
}

export const specLimitDefaults = {
  maxStringBytes: 2_048,
  maxColumns: 1_000,
  maxLabels: 32,
  minChunkRows: 1_000,
} as const satisfies Required<SpecLimits>;

/** One limit a spec breaks: where (a zod path, relative to the spec) and what. */
export interface SpecLimitIssue {
  path: PropertyKey[];
  message: string;
}

/** Every limit `spec` (already valid in shape) breaks, each at its field's path. */
export function specLimitIssues(spec: JobSpec, limits: Required<SpecLimits>): SpecLimitIssue[] {
  const issues: SpecLimitIssue[] = [];
  stringIssues(spec, [], limits.maxStringBytes, issues);

  const lists: Array<[PropertyKey[], number, string]> = [];
  // `"*"` names no list; `exclude` is one.
  if (Array.isArray(spec.output.passthrough))
    lists.push([['output', 'passthrough'], spec.output.passthrough.length, 'columns']);
  if (spec.output.exclude) lists.push([['output', 'exclude'], spec.output.exclude.length, 'columns']);
  const sides: Array<[string, Record<string, InputMapping | OutputMapping> | undefined]> = [
    ['inputs', spec.model.inputs],
    ['outputs', spec.model.outputs],
  ];
  for (const [side, mappings] of sides) {
    if (mappings === undefined) continue;
    lists.push([['model', side], Object.keys(mappings).length, 'entries']);
    for (const [name, mapping] of Object.entries(mappings)) {
      if ('columns' in mapping)
        lists.push([['model', side, name, 'columns'], mapping.columns.length, 'columns']);
    }
  }
  for (const [path, count, what] of lists) {
    if (count > limits.maxColumns)
      issues.push({ path, message: `${count} ${what}, over the limit of ${limits.maxColumns}` });
  }

  if (Object.keys(spec.labels).length > limits.maxLabels)
    issues.push({ path: ['labels'], message: `at most ${limits.maxLabels} labels` });
  if (spec.batch.chunkRows < limits.minChunkRows) {
    issues.push({
      path: ['batch', 'chunkRows'],
      message: `at least ${limits.minChunkRows} rows per chunk`,
    });
  }
  return issues;
}

/** The spec's maps, whose keys the user writes (the other objects' keys are the schema's field names). */
const userKeyed = new Set(['labels', 'model.inputs', 'model.outputs']);

/** Strings (values, and the keys of user-keyed maps) longer than `maxBytes` in UTF-8, each at its path. */
function stringIssues(value: unknown, path: PropertyKey[], maxBytes: number, issues: SpecLimitIssue[]): void {
  if (typeof value === 'string') {
    const bytes = utf8Bytes(value, maxBytes);
    if (bytes > maxBytes) issues.push({ path, message: `${bytes} bytes, over the ${maxBytes}-byte limit` });
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => stringIssues(item, [...path, index], maxBytes, issues));
  } else if (value !== null && typeof value === 'object') {
    const keyed = userKeyed.has(path.join('.'));
    for (const [key, item] of Object.entries(value)) {
      const bytes = keyed ? utf8Bytes(key, maxBytes) : 0;
      // An oversized key is reported at its map: as a path segment it would repeat the key whole.
      if (bytes > maxBytes)
        issues.push({ path, message: `a key of ${bytes} bytes, over the ${maxBytes}-byte limit` });
      else stringIssues(item, [...path, key], maxBytes, issues);
    }
  }
}

/**
 * UTF-8 length of `text` where it could be over `maxBytes`; below that, its UTF-16 length, which cannot be
 * (a UTF-16 unit is at most 3 UTF-8 bytes), saving the measure for the strings that matter.
 */
function utf8Bytes(text: string, maxBytes: number): number {
  return text.length * 3 <= maxBytes ? text.length : Buffer.byteLength(text, 'utf8');
}
