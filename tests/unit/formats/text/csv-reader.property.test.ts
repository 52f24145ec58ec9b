import type { RecordBatch } from 'apache-arrow';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planCsvSplits, readBlocks } from '../../../../services/formats/text/text-split.js';
import { makeCsvReader } from '../../../../services/formats/text/csv-duckdb-reader.js';
import type { ColumnTypeName } from '../../../../services/formats/format-reader.js';
import { makeMemoryStorage } from '../../../helpers/memory-storage.js';

const URI = 'mem://bucket/data.csv';
const encoder = new TextEncoder();

/**
 * A plain character-at-a-time RFC 4180 parser, written independently of the reader, as the oracle.
 * Returns each record with the byte offset of its first byte; blank lines are skipped.
 */
function referenceParse(text: string): { fields: (string | null)[]; byteStart: number }[] {
  const records: { fields: (string | null)[]; byteStart: number }[] = [];
  let i = 0;
  const advance = (count: number) => {
    i += count;
  };
  while (i < text.length) {
    const byteStart = Buffer.byteLength(text.slice(0, i));
    const fields: (string | null)[] = [];
    let field = '';
    let quoted = false;
    let blankCandidate = true;
    for (;;) {
      if (i >= text.length) {
        fields.push(quoted || field !== '' ? field : null);
        break;
      }
      const c = text[i]!;
      if (c === '"' && field === '' && !quoted) {
        blankCandidate = false;
        quoted = true;
        advance(1);
        for (;;) {
          if (i >= text.length) throw new Error('unterminated');
          if (text[i] === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              advance(2);
              continue;
            }
            advance(1);
            break;
          }
          field += text[i];
          advance(1);
        }
        continue;
      }
      if (c === ',') {
        blankCandidate = false;
        fields.push(quoted || field !== '' ? field : null);
        field = '';
        quoted = false;
        advance(1);
        continue;
      }
      if (c === '\n' || (c === '\r' && (text[i + 1] === '\n' || i + 1 === text.length))) {
        fields.push(quoted || field !== '' ? field : null);
        advance(c === '\r' ? (i + 1 === text.length ? 1 : 2) : 1);
        break;
      }
      blankCandidate = false;
      field += c;
      advance(1);
    }
    const blank = blankCandidate && fields.length === 1 && fields[0] === null;
    if (!blank) records.push({ fields, byteStart });
  }
  return records;
}

const plainChar = fc.constantFrom('a', 'b', 'z', '0', '7', ' ', 'é', '日', '😀', '.', '-');
const specialChar = fc.constantFrom(',', '"', '\n', '\r\n', '\r', '""');
const field = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.array(plainChar, { maxLength: 6 }).map((cs) => ({ text: cs.join(''), quote: false })),
  },
  {
    weight: 2,
    arbitrary: fc
      .array(fc.oneof(plainChar, specialChar), { maxLength: 6 })
      .map((cs) => ({ text: cs.join(''), quote: true })),
  },
);

const csvFile = fc
  .integer({ min: 1, max: 4 })
  .chain((columns) =>
    fc.record({
      columns: fc.constant(columns),
      rows: fc.array(
        fc.record({
          fields: fc.array(field, { minLength: columns, maxLength: columns }),
          ending: fc.constantFrom('\n', '\r\n'),
          blankBefore: fc.boolean(),
        }),
        { maxLength: 30 },
      ),
      finalNewline: fc.boolean(),
      bom: fc.boolean(),
    }),
  )
  .map(({ columns, rows, finalNewline, bom }) => {
    const names = Array.from({ length: columns }, (_, i) => `c${i}`);
    let text = (bom ? '\uFEFF' : '') + names.join(',') + '\n';
    rows.forEach((row, r) => {
      if (row.blankBefore) text += row.ending;
      text += row.fields.map((f) => (f.quote ? `"${f.text.replaceAll('"', '""')}"` : f.text)).join(',');
      if (r < rows.length - 1 || finalNewline) text += row.ending;
    });
    return { text, names };
  });

function rowsOf(batches: RecordBatch[], names: string[]): (string | null)[][] {
  const rows: (string | null)[][] = [];
  for (const batch of batches) {
    for (let r = 0; r < batch.numRows; r++) {
      rows.push(names.map((n) => batch.getChild(n)!.get(r) as string | null));
    }
  }
  return rows;
}

async function readAll(
  storage: ReturnType<typeof makeMemoryStorage>,
  size: number,
  splits: { start: number; end: number }[],
  knobs: { blockSize: number; tailBlockSize: number; headBytes: number; batchRows: number },
  schema: Record<string, ColumnTypeName>,
): Promise<RecordBatch[][]> {
  const reader = makeCsvReader(knobs);
  const out: RecordBatch[][] = [];
  for (const s of splits) {
    const batches: RecordBatch[] = [];
    const part = { uri: URI, size, range: { kind: 'bytes' as const, start: s.start, end: s.end } };
    for await (const b of reader.readPart(storage, part, { schema })) batches.push(b);
    out.push(batches);
  }
  return out;
}

const knobsArb = fc.record({
  blockSize: fc.integer({ min: 1, max: 64 }),
  tailBlockSize: fc.integer({ min: 1, max: 16 }),
  headBytes: fc.integer({ min: 1, max: 128 }),
  batchRows: fc.integer({ min: 1, max: 7 }),
});

describe('CSV reader over planned splits (property)', () => {
  it('reads every row exactly once for any target part size and scan block size', async () => {
    await fc.assert(
      fc.asyncProperty(
        csvFile,
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 50 }),
        knobsArb,
        async ({ text, names }, targetBytes, scanBlock, knobs) => {
          const bytes = encoder.encode(text);
          const storage = makeMemoryStorage({ [URI]: bytes });
          const expected = referenceParse(text.replace(/^\uFEFF/, '')).slice(1);
          const read = (start: number, end: number) => storage.read(URI, { start, end });
          const splits = await planCsvSplits(
            readBlocks(read, bytes.length, scanBlock),
            bytes.length,
            targetBytes,
          );
          // Splits tile the object.
          expect(splits[0]?.start).toBe(0);
          expect(splits.at(-1)?.end).toBe(bytes.length);
          const schema = Object.fromEntries(names.map((n) => [n, 'string' as const]));
          const parts = await readAll(storage, bytes.length, splits, knobs, schema);
          const actual = parts.flatMap((batches) => rowsOf(batches, names));
          expect(actual).toEqual(expected.map((r) => r.fields));
          // The planner's row counts are the rows each part yields.
          parts.forEach((batches, i) => {
            expect(batches.reduce((n, b) => n + b.numRows, 0)).toBe(splits[i]!.rows);
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads every row exactly once for any set of record-start splits', async () => {
    await fc.assert(
      fc.asyncProperty(
        csvFile,
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }),
        knobsArb,
        async ({ text, names }, fractions, knobs) => {
          const bytes = encoder.encode(text);
          const storage = makeMemoryStorage({ [URI]: bytes });
          const records = referenceParse(text.replace(/^\uFEFF/, ''));
          const bom = text.startsWith('\uFEFF') ? 3 : 0;
          // Random offsets, each moved to the first record start at or after it (what the planner does).
          const starts = records.map((r) => r.byteStart + bom);
          const cuts = [
            ...new Set(
              fractions
                .map((f) => Math.floor(f * bytes.length))
                .map((o) => starts.find((s) => s >= o) ?? bytes.length)
                .filter((o) => o > 0 && o < bytes.length),
            ),
          ].sort((a, b) => a - b);
          const bounds = [0, ...cuts, bytes.length];
          const splits = bounds.slice(1).map((end, i) => ({ start: bounds[i]!, end }));
          const schema = Object.fromEntries(names.map((n) => [n, 'string' as const]));
          const parts = await readAll(storage, bytes.length, splits, knobs, schema);
          expect(parts.flatMap((batches) => rowsOf(batches, names))).toEqual(
            records.slice(1).map((r) => r.fields),
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});
