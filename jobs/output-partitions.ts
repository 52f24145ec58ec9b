import { MODEL_FOLDER_KEY } from '../schemas/job-spec.js';

/** Hive's name for the partition of null (and empty) values; DuckDB, Spark and Hive read it as NULL. */
export const HIVE_DEFAULT_PARTITION = '__HIVE_DEFAULT_PARTITION__';

// Hive's FileUtils.escapePathName: these characters, and every control character, become %XX.
const ESCAPED = new Set(['"', '#', '%', "'", '*', '/', ':', '=', '?', '\\', '\x7F', '{', '[', ']', '^']);

/**
 * A partition column name or value as Hive writes it in a path: `"#%'*\/:=?\\\x7F{[]^` and control
 * characters as `%XX` (uppercase hex), everything else (spaces, non-ASCII) as it is. Readers that follow
 * Hive (DuckDB's `hive_partitioning`, Spark, Trino) decode it back to the value.
 */
export function escapeHivePathName(text: string): string {
  let escaped = '';
  for (const char of text) {
    const code = char.codePointAt(0)!;
    escaped +=
      code < 0x20 || ESCAPED.has(char) ? `%${code.toString(16).toUpperCase().padStart(2, '0')}` : char;
  }
  return escaped;
}

/** A partition's values by column, as the manifest lists them (null: Hive's default partition). */
export type PartitionValues = Record<string, string | null>;

/**
 * The folder of one partition under the output root, `dt=2026-11-28/country=de/`, in `columns` order.
 * Null and the empty string both go to `__HIVE_DEFAULT_PARTITION__`, as Hive and Spark write them.
 */
export function partitionFolder(columns: readonly string[], values: PartitionValues): string {
  return columns
    .map((column) => {
      const value = values[column];
      const text = value === null || value === undefined || value === '' ? HIVE_DEFAULT_PARTITION : value;
      return `${escapeHivePathName(column)}=${escapeHivePathName(text)}/`;
    })
    .join('');
}

/** A model's folder of `output.challengers: "parts"`, `model=<name>/`, escaped as partition folders are. */
export function modelFolder(model: string): string {
  return partitionFolder([MODEL_FOLDER_KEY], { [MODEL_FOLDER_KEY]: model });
}
