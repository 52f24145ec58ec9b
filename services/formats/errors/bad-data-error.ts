import { QuiverError } from '../../../schemas/errors/quiver-error.js';

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
 * Input data that cannot be decoded. It is permanent, whatever its code: retrying reads the same bytes. The
 * message names the object and, where known, the row, byte offset and column; `location` holds them.
 */
export class BadDataError extends QuiverError {
  declare readonly code: BadDataCode;
  /** Always names the object: bad data is found reading one. */
  declare location: BadDataLocation;

  constructor(code: BadDataCode, detail: string, location: BadDataLocation, options?: ErrorOptions) {
    const where = [
      location.uri,
      location.row !== undefined ? `row ${location.row}` : undefined,
      location.byteOffset !== undefined ? `byte ${location.byteOffset}` : undefined,
      location.column !== undefined ? `column "${location.column}"` : undefined,
    ]
      .filter((s): s is string => s !== undefined)
      .join(', ');
    super(code, `${code}: ${detail} (${where})`, { ...options, permanent: true, location });
  }
}
