import type { RecordBatch } from 'apache-arrow';
import { BadDataError } from '../../services/formats/errors/bad-data-error.js';
import type {
  ColumnTypeName,
  FormatReader,
  InvalidRecord,
  ReadPartOptions,
} from '../../services/formats/format-reader.js';
import { makeMemoryStorage } from './memory-storage.js';

/** Reads `text`, stored as `uri`, through `reader`: whole, or the part `[range.start, range.end)`. */
export async function readText(
  reader: FormatReader,
  uri: string,
  text: string,
  options: ReadPartOptions = {},
  range?: { start: number; end: number },
): Promise<RecordBatch[]> {
  const storage = makeMemoryStorage({ [uri]: text });
  const size = storage.objects.get(uri)!.length;
  const part = {
    uri,
    size,
    range: range ? { kind: 'bytes' as const, ...range } : { kind: 'whole' as const },
  };
  const batches: RecordBatch[] = [];
  for await (const b of reader.readPart(storage, part, options)) batches.push(b);
  return batches;
}

/** The BadDataError a read throws; fails the test if it throws something else or nothing. */
export async function badDataErrorOf(read: () => Promise<unknown>): Promise<BadDataError> {
  try {
    await read();
  } catch (error) {
    if (error instanceof BadDataError) return error;
    throw error;
  }
  throw new Error('expected a BadDataError');
}

/** Rows of the batches as plain objects. */
export function rowObjects(batches: RecordBatch[]): Record<string, unknown>[] {
  return batches.flatMap((b) =>
    b.toArray().map((r) => (r as { toJSON(): Record<string, unknown> }).toJSON()),
  );
}

/** How one read of a part ended: its rows and the records it skipped, or the error it threw. */
export type ReadOutcome =
  | { rows: unknown[][]; skipped: Array<{ record: string; rowInPart: number; message: string }> }
  | { error: string };

/** Cells of the batches, comparable with `toEqual`: bigints as `<n>n`, NaN as `'NaN'`. */
function comparableCells(batches: RecordBatch[]): unknown[][] {
  return batches.flatMap((batch) =>
    Array.from({ length: batch.numRows }, (_, r) =>
      batch.schema.fields.map((_f, c) => {
        const v: unknown = batch.getChildAt(c)!.get(r);
        return typeof v === 'bigint' ? `${v}n` : Number.isNaN(v) ? 'NaN' : v;
      }),
    ),
  );
}

/**
 * Reads one part and says how it ended, for comparing two readers of a format: the rows, the records
 * skipped (under `skip`) with their text, row and message, or the error's class and message.
 */
export async function readOutcome(
  reader: FormatReader,
  storage: ReturnType<typeof makeMemoryStorage>,
  part: { uri: string; size: number; range: { kind: 'bytes'; start: number; end: number } },
  options: { schema?: Record<string, ColumnTypeName> | undefined; skip: boolean; columns?: string[] },
): Promise<ReadOutcome> {
  const skipped: Array<{ record: string; rowInPart: number; message: string }> = [];
  const batches: RecordBatch[] = [];
  try {
    const onInvalidRecord = (invalid: InvalidRecord) =>
      skipped.push({ record: invalid.record, rowInPart: invalid.rowInPart, message: invalid.error.message });
    for await (const b of reader.readPart(storage, part, {
      ...(options.columns ? { columns: options.columns } : {}),
      ...(options.schema ? { schema: options.schema } : {}),
      ...(options.skip ? { onInvalidRecord } : {}),
    }))
      batches.push(b);
  } catch (error) {
    return { error: error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error) };
  }
  return { rows: comparableCells(batches), skipped };
}
