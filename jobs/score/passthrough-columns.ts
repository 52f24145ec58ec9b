import type { JobOutput } from '../../schemas/job-spec.js';
import { ExcludedColumnMissing } from './errors/excluded-column-missing.js';

/** What a spec says about passthrough columns: `output.passthrough` and `output.exclude`. */
export type PassthroughSelection = Pick<JobOutput, 'passthrough' | 'exclude'>;

/**
 * The input columns a chunk's read must decode for its passthrough: the named ones, or undefined for
 * `"*"` (every column).
 */
export function passthroughReadColumns(selection: PassthroughSelection): string[] | undefined {
  return selection.passthrough === '*' ? undefined : selection.passthrough;
}

/**
 * The output's passthrough columns, in output order, given the columns the input decoded to (`inputColumns`,
 * in input order, Hive partition columns included): a named list as is (a missing column is the scorer's
 * `FEATURE_COLUMN_MISSING`, as before), or for `"*"` every input column but the excluded ones. An excluded
 * column the input lacks throws `EXCLUDED_COLUMN_MISSING` naming it and the object (`uri`).
 */
export function passthroughColumns(
  selection: PassthroughSelection,
  inputColumns: readonly string[],
  uri?: string,
): string[] {
  if (selection.passthrough !== '*') return selection.passthrough;
  const excluded = new Set(selection.exclude ?? []);
  for (const column of excluded)
    if (!inputColumns.includes(column)) throw new ExcludedColumnMissing(column, inputColumns, uri);
  return inputColumns.filter((column) => !excluded.has(column));
}
