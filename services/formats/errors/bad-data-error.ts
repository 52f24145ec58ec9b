/** Stable codes for data that cannot be read; the job fails (or rejects rows) with one of these. */
export type BadDataCode =
  | 'PARQUET_INVALID'
  | 'ARROW_INVALID'
  | 'CSV_RAGGED_ROW'
  | 'CSV_INVALID'
  | 'JSONL_INVALID_JSON'
  | 'JSONL_INVALID_RECORD'
  | 'VALUE_INVALID'
  | 'SCHEMA_MISMATCH';

/** Where in an input object the bad data is. Rows are 0-based within the object; byte offsets absolute. */
export interface BadDataLocation {
  uri: string;
  row?: number;
  byteOffset?: number;
  column?: string;
}

/**
 * Input data that cannot be decoded. It is permanent: retrying reads the same bytes. The message names
 * the object and, where known, the row, byte offset and column.
 */
export class BadDataError extends Error {
  override readonly name = 'BadDataError';
  readonly code: BadDataCode;
  readonly location: BadDataLocation;

  constructor(code: BadDataCode, detail: string, location: BadDataLocation, options?: ErrorOptions) {
    const where = [
      location.uri,
      location.row !== undefined ? `row ${location.row}` : undefined,
      location.byteOffset !== undefined ? `byte ${location.byteOffset}` : undefined,
      location.column !== undefined ? `column "${location.column}"` : undefined,
    ]
      .filter((s): s is string => s !== undefined)
      .join(', ');
    super(`${code}: ${detail} (${where})`, options);
    this.code = code;
    this.location = location;
  }
}
