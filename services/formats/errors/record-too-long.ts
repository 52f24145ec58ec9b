/**
 * A CSV or JSONL record runs past the reader's `maxRecordBytes` (default 64 MiB) without ending: a file
 * with no line breaks, or an unterminated quote that swallows the rest of the object. The reader stops
 * there instead of holding the whole object in one buffer. The error names the object and the byte offset
 * where the record starts. Permanent: retrying reads the same bytes.
 */
export class RecordTooLong extends Error {
  static readonly codes = { csv: 'CSV_RECORD_TOO_LONG', jsonl: 'JSONL_RECORD_TOO_LONG' } as const;
  override readonly name = 'RecordTooLong';
  readonly code: (typeof RecordTooLong.codes)[keyof typeof RecordTooLong.codes];

  constructor(
    readonly format: 'csv' | 'jsonl',
    readonly uri: string,
    readonly byteOffset: number,
    readonly maxRecordBytes: number,
  ) {
    const code = RecordTooLong.codes[format];
    super(
      `${code}: a record runs past ${maxRecordBytes} bytes (maxRecordBytes) without ending (${uri}, byte ${byteOffset})`,
    );
    this.code = code;
  }
}
