import type { RecordBatch } from 'apache-arrow';
import type { BadDataError } from './errors/bad-data-error.js';
import type { InvalidRecord } from './format-reader.js';

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
