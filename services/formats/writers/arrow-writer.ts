import { tableToIPC, type Table } from 'apache-arrow';

/**
 * Encodes a table as an Arrow IPC file (`ARROW1` magic and a footer indexing every batch), the random-access
 * form that pyarrow, DuckDB and Polars open directly; the stream form would need reading from the start.
 */
export function encodeArrow(table: Table): Uint8Array {
  return tableToIPC(table, 'file');
}
