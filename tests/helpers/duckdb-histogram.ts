import type { DuckDBConnection } from '@duckdb/node-api';

/** DuckDB's count of `column` in each bin `[edges[i], edges[i + 1])` over `from` (a table expression). */
export async function duckdbBinCounts(
  db: DuckDBConnection,
  column: string,
  edges: readonly number[],
  from: string,
): Promise<number[]> {
  const bins = edges
    .slice(0, -1)
    .map((lo, i) => `count_if(${column}::DOUBLE >= ${lo} AND ${column}::DOUBLE < ${edges[i + 1]})`)
    .join(', ');
  const [row] = (await db.runAndReadAll(`SELECT ${bins} FROM ${from}`)).getRows();
  return row!.map(Number);
}
