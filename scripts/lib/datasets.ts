import { mkdir, rename, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

/** Git-ignored folder for generated datasets, shared by benchmarks and the demo. */
export const cacheDir = resolve(import.meta.dirname, '../../.cache');

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * A tabular dataset of `rows` rows: `id` (int64) and `features` float32 columns f0..f{n-1}, uniform in
 * [0, 1) from a fixed seed, written by DuckDB as Parquet (snappy, DuckDB's default row groups). Generated
 * once and cached; a half-written file is never left under the final name.
 */
export async function tabularParquet(rows: number, features = 64): Promise<string> {
  const path = join(cacheDir, 'datasets', `tabular-${rows}x${features}.parquet`);
  if (await exists(path)) return path;
  await mkdir(dirname(path), { recursive: true });
  const partial = `${path}.partial`;
  const instance = await DuckDBInstance.create(':memory:');
  try {
    const connection = await instance.connect();
    await connection.run('SELECT setseed(0.42)');
    const columns = Array.from({ length: features }, (_, i) => `random()::FLOAT AS f${i}`).join(', ');
    await connection.run(
      `COPY (SELECT range::BIGINT AS id, ${columns} FROM range(${rows})) TO '${partial}' (FORMAT parquet)`,
    );
    connection.closeSync();
  } finally {
    instance.closeSync();
  }
  await rename(partial, path);
  return path;
}

/**
 * The tabular dataset of `tabularParquet(rows, features)` in another format, converted by DuckDB once and
 * cached: CSV with a header, JSONL (one object per line) or an Arrow IPC file (through apache-arrow, from
 * the Parquet reader's batches).
 */
export async function tabularAs(format: 'csv' | 'jsonl', rows: number, features = 64): Promise<string> {
  const path = join(cacheDir, 'datasets', `tabular-${rows}x${features}.${format}`);
  if (await exists(path)) return path;
  const parquet = await tabularParquet(rows, features);
  const partial = `${path}.partial`;
  const instance = await DuckDBInstance.create(':memory:');
  try {
    const connection = await instance.connect();
    const options = format === 'csv' ? '(HEADER)' : '(FORMAT json)';
    await connection.run(`COPY (SELECT * FROM read_parquet('${parquet}')) TO '${partial}' ${options}`);
    connection.closeSync();
  } finally {
    instance.closeSync();
  }
  await rename(partial, path);
  return path;
}
