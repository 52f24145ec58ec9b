import { RecordBatch, type Schema } from 'apache-arrow';
import type { BadDataCode, BadDataError } from '../errors/bad-data-error.js';
import type { InvalidRecord } from '../format-reader.js';
import { type RecordWindow, byteOffsetOf, decodeRecords } from './record-boundaries.js';
import { type RowOrigins, takeRecordBatch } from './column-builders.js';
import type { TextColumn } from './column-types.js';

/**
 * Collects the records a text reader skips while it gathers a batch, and reports them when the batch is
 * taken, each with its exact place in the part's row stream: a record refused while parsing sits before
 * the gathered row it preceded, one refused while building columns takes that row's place (the row is cut
 * out of the batch). Reports come in stream order.
 */
export function makeSkippedRecords(onInvalidRecord: (invalid: InvalidRecord) => void) {
  let pending: Array<{ error: BadDataError; record: string; gatheredRow: number }> = [];
  /** Good rows the part has yielded so far. */
  let rowsBefore = 0;
  return {
    /** A record refused while parsing, before gathered row `gatheredRow` of the current batch. */
    skipParsed(error: BadDataError, record: string, gatheredRow: number): void {
      pending.push({ error, record, gatheredRow });
    },
    /**
     * Reports what the batch skipped — parsed records, and `cut`: gathered rows (ascending) whose values
     * do not convert — and returns the batch without the cut rows, as zero-copy slices.
     */
    take(
      batch: RecordBatch | undefined,
      cut: ReadonlyArray<{ row: number; error: BadDataError; record: string }>,
    ): RecordBatch[] {
      const reports = [
        ...pending.map((p) => ({ at: p.gatheredRow, order: 0, error: p.error, record: p.record })),
        ...cut.map((c) => ({ at: c.row, order: 1, error: c.error, record: c.record })),
      ].sort((a, b) => a.at - b.at || a.order - b.order);
      pending = [];
      let cutBefore = 0;
      for (const report of reports) {
        onInvalidRecord({
          error: report.error,
          record: report.record,
          rowInPart: rowsBefore + report.at - cutBefore,
        });
        if (report.order === 1) cutBefore++;
      }
      if (!batch) return [];
      const kept: RecordBatch[] = [];
      let from = 0;
      for (const { row } of cut) {
        if (row > from) kept.push(batch.slice(from, row));
        from = row + 1;
      }
      if (from < batch.numRows) kept.push(from === 0 ? batch : batch.slice(from));
      for (const b of kept) rowsBefore += b.numRows;
      return kept;
    },
  };
}

export type SkippedRecords = ReturnType<typeof makeSkippedRecords>;

/** A decoded window of a part: its text, and where its bytes sit in the object. */
export interface PartText {
  id: number;
  text: string;
  offset: number;
  byteLength: number;
}

/**
 * Takes the gathered rows of a text reader as Arrow batches. A value that does not convert fails the read
 * with VALUE_INVALID naming its row, byte offset and column — or, when the read skips invalid records, its
 * row is cut out and reported with its record's text.
 */
export function makeBatchTaker(o: {
  schema: Schema;
  columns: readonly TextColumn[];
  target: RowOrigins;
  /** Texts the gathered rows come from; all but the last are dropped once a batch is taken. */
  texts: PartText[];
  fault: (
    code: BadDataCode,
    detail: string,
    record: number,
    byteOffset: number,
    column?: string,
  ) => BadDataError;
  /** How a bad value reads in the message (CSV quotes its text; JSON values carry their own quotes). */
  describeValue: (value: string) => string;
  /** Where the record starting at `start` ends (its line break included or not). */
  recordEnd: (text: string, start: number) => number;
  onInvalidRecord?: (invalid: InvalidRecord) => void;
}) {
  const skipping = o.onInvalidRecord ? makeSkippedRecords(o.onInvalidRecord) : undefined;
  const textOfRow = (row: number): PartText => o.texts.find((x) => x.id === o.target.textOf[row])!;
  const valueFault = (row: number, column: TextColumn, value: string): BadDataError => {
    const t = textOfRow(row);
    const byteOffset = byteOffsetOf(t.text, t.byteLength, t.offset, o.target.charStartOf[row]!);
    const detail = `${o.describeValue(value)} is not a valid ${column.type}`;
    return o.fault('VALUE_INVALID', detail, o.target.recordOf[row]!, byteOffset, column.name);
  };
  const recordText = (row: number): string => {
    const { text } = textOfRow(row);
    const start = o.target.charStartOf[row]!;
    return withoutLineBreak(text.slice(start, o.recordEnd(text, start)));
  };
  const take = (buildSlot: Parameters<typeof takeRecordBatch>[3]): RecordBatch[] => {
    const cut = new Map<number, { column: TextColumn; value: string }>();
    const batch = takeRecordBatch(
      o.schema,
      o.columns,
      o.target,
      buildSlot,
      skipping && ((row, column, value) => void (cut.has(row) || cut.set(row, { column, value }))),
    );
    if (!(batch instanceof RecordBatch)) throw valueFault(batch.row, batch.column, batch.value);
    const cutRows = [...cut]
      .sort(([a], [b]) => a - b)
      .map(([row, { column, value }]) => ({
        row,
        error: valueFault(row, column, value),
        record: recordText(row),
      }));
    o.texts.splice(0, o.texts.length - 1);
    return skipping ? skipping.take(batch, cutRows) : [batch];
  };
  return {
    /**
     * Parses every window of the part into batches of the target's size. `parse` gathers records from
     * `at` and returns where it stopped (the text's end, or a full batch), or the fault of a record. A fault
     * confined to its record (`next` known) is skipped when the read skips invalid records — after
     * `rollback` undoes what the record wrote into the gathered row; any other fault is thrown.
     */
    async *batches(
      windows: AsyncIterable<RecordWindow>,
      w: {
        uri: string;
        /** The code of bytes that are not UTF-8. */
        decodeCode: BadDataCode;
        parse: (text: string, at: number) => number | RecordFault;
        rollback?: (row: number) => void;
        /** Builds the batch's columns (see `takeRecordBatch`). */
        build: Parameters<typeof takeRecordBatch>[3];
        /** Called after each batch is taken (fresh cells for the next one). */
        afterTake?: () => void;
      },
    ): AsyncGenerator<RecordBatch> {
      const flush = (): RecordBatch[] => {
        const batches = take(w.build);
        w.afterTake?.();
        return batches;
      };
      const { target } = o;
      for await (const window of windows) {
        const text = decodeRecords(window.bytes, w.uri, window.offset, w.decodeCode);
        target.textId++;
        o.texts.push({ id: target.textId, text, offset: window.offset, byteLength: window.bytes.length });
        let at = window.offset === 0 && text.charCodeAt(0) === 0xfeff ? 1 : 0;
        for (;;) {
          const stopped = w.parse(text, at);
          if (typeof stopped !== 'number') {
            const byteOffset = byteOffsetOf(text, window.bytes.length, window.offset, stopped.start);
            const error = o.fault(
              stopped.code,
              stopped.detail,
              target.records - 1,
              byteOffset,
              stopped.column,
            );
            if (!skipping || stopped.next === undefined) throw error;
            w.rollback?.(target.rows);
            skipping.skipParsed(
              error,
              withoutLineBreak(text.slice(stopped.start, stopped.next)),
              target.rows,
            );
            at = stopped.next;
            continue;
          }
          at = stopped;
          if (target.rows < target.maxRows) break;
          yield* flush();
        }
      }
      if (target.rows > 0) yield* flush();
      else skipping?.take(undefined, []);
    },
  };
}

/** A record that cannot be parsed, at character `start` of the text; `next` when its end is known. */
export interface RecordFault {
  code: BadDataCode;
  detail: string;
  start: number;
  next?: number;
  /** The column at fault, when one is. */
  column?: string;
}

/** A record's text as it stood in the object, without its line break. */
function withoutLineBreak(record: string): string {
  return record.replace(/\r?\n$/, '').replace(/\r$/, '');
}
