/**
 * Rows as the processors see them: opaque batches that they count, slice and hand on (Arrow record batches
 * in services/; processors never look inside a row, so they do not depend on Arrow).
 */
export interface RowBatch {
  readonly numRows: number;
  slice(begin?: number, end?: number): RowBatch;
}

/** The column layout of output batches, as writers need it to write a part with no rows. */
export interface BatchSchema {
  readonly fields: readonly { readonly name: string }[];
}

/** Scored rows ready to be written: key columns, then scores (an Arrow table or batch in services/). */
export interface OutputBatch {
  readonly numRows: number;
  readonly schema: BatchSchema;
}

/** The passthrough columns of rows a mapping refused (written to `rejected/` with the reason). */
export interface KeyTable {
  readonly numRows: number;
  /** Row `index` as a plain object of its columns. */
  get(index: number): { toJSON(): Record<string, unknown> } | null;
}
