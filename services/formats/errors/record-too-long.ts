import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * A CSV or JSONL record runs past the reader's `maxRecordBytes` (default 64 MiB) without ending: a file
 * with no line breaks, or an unterminated quote that swallows the rest of the object. The reader stops
 * there instead of holding the whole object in one buffer. The error names the object and the byte offset
 * where the record starts. Permanent, for either format: retrying reads the same bytes.
 */
export class RecordTooLong extends QuiverError {
  static readonly codes = { csv: 'CSV_RECORD_TOO_LONG', jsonl: 'JSONL_RECORD_TOO_LONG' } as const;
  declare readonly code: (typeof RecordTooLong.codes)[keyof typeof RecordTooLong.codes];

  constructor(
    readonly format: 'csv' | 'jsonl',
    readonly uri: string,
    readonly byteOffset: number,
    readonly maxRecordBytes: number,
  ) {
    const code = RecordTooLong.codes[format];
    super(
      code,
      `${code}: a record runs past ${maxRecordBytes} bytes (maxRecordBytes) without ending (${uri}, byte ${byteOffset})`,
      { permanent: true, location: { uri, byteOffset } },
    );
  }
}
