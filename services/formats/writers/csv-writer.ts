import type { Table } from 'apache-arrow';
import { makeCellEncoder, type TextDialect } from './jsonl-writer.js';

const NEEDS_QUOTES = /[",\r\n]/;

/**
 * RFC 4180 quoting: a field holding a quote, comma or line break is wrapped in quotes with inner quotes
 * doubled. The empty string is quoted too (`""`), so it stays distinct from a null, which is an empty field.
 */
export function quoteCsvField(value: string): string {
  if (value === '') return '""';
  return NEEDS_QUOTES.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/**
 * CSV spells values as text without JSON's quotes: int64 at full precision whatever its size, NaN and
 * ±Infinity as those words (DuckDB, pandas and Spark read them back), nested values as their JSON text.
 */
const CSV_DIALECT: TextDialect = {
  null: '',
  string: quoteCsvField,
  bigint: (value) => value.toString(),
  nonFinite: (value) => String(value),
  nested: quoteCsvField,
};

/**
 * Encodes a table as CSV: a header line of column names, then one line per row, `,`-separated, lines
 * ending in `\n` (what DuckDB, pandas and Spark write; every CSV reader accepts it). Nulls are empty fields;
 * timestamps are ISO 8601 (`Z` only for zoned timestamps). Each batch is encoded to bytes on its own so no
 * single JavaScript string grows with the whole chunk.
 */
export function encodeCsv(table: Table): Uint8Array {
  const encoder = new TextEncoder();
  const header = table.schema.fields.map((field) => quoteCsvField(field.name)).join(',');
  const parts: Uint8Array[] = [encoder.encode(`${header}\n`)];
  for (const batch of table.batches) {
    const cells = table.schema.fields.map((_, index) =>
      makeCellEncoder(batch.getChildAt(index)!, CSV_DIALECT),
    );
    const lines: string[] = [];
    for (let row = 0; row < batch.numRows; row++) {
      lines.push(`${cells.map((cell) => cell(row)).join(',')}\n`);
    }
    parts.push(encoder.encode(lines.join('')));
  }
  return Buffer.concat(parts);
}
