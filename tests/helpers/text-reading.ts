import type { RecordBatch } from 'apache-arrow';
import { BadDataError } from '../../services/formats/errors/bad-data-error.js';
import type { FormatReader, ReadPartOptions } from '../../services/formats/format-reader.js';
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
