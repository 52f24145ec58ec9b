/**
 * The DuckDB CSV path against the exact parser it replaces (the reference): on random CSV files with quoted
 * newlines, escaped quotes, empty and quoted-empty fields, CRLF (whole-file or mixed), a BOM, blank lines,
 * ragged rows and odd numbers, over planned record-aligned splits, both yield the same rows, throw the same
 * error, or skip the same records with the same text and reason.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { makeCsvReader } from '../../../../services/formats/text/csv-duckdb-reader.js';
import { makeExactCsvReader } from '../../../../services/formats/text/csv-reader.js';
import { planCsvSplits, readBlocks } from '../../../../services/formats/text/text-split.js';
import type { ColumnTypeName } from '../../../../services/formats/format-reader.js';
import { makeMemoryStorage } from '../../../helpers/memory-storage.js';
import { readOutcome } from '../../../helpers/text-reading.js';

const URI = 'mem://bucket/data.csv';
const encoder = new TextEncoder();
const duckdb = makeCsvReader({ minDuckdbBytes: 0 });
const exact = makeExactCsvReader();

afterAll(() => duckdb.close());

const types: ColumnTypeName[] = ['string', 'float64', 'float32', 'int64', 'int32'];

/** A cell that any reader of a valid file must read: numbers for numeric columns, any text for strings. */
const cleanCell = (type: ColumnTypeName): fc.Arbitrary<string> => {
  const text = fc.string({
    unit: fc.constantFrom('a', 'b', ' ', ',', '"', '\n', '\r\n', 'é', '1', '.'),
    maxLength: 6,
  });
  const quoted = text.map((s) => `"${s.replaceAll('"', '""')}"`);
  switch (type) {
    case 'string':
      return fc.oneof(
        quoted,
        text.filter((s) => !/[",\r\n]/.test(s)),
      );
    case 'int32':
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map(String);
    case 'int64':
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String);
    default:
      return fc.oneof(
        fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
        fc.float({ noNaN: true, noDefaultInfinity: true }).map((f) => f.toPrecision(9)),
      );
  }
};

/** Cells that some reader may refuse or read differently: each must end the same way on both paths. */
const oddCell = fc.constantFrom(
  '',
  '""',
  '"1.5"',
  '1.5',
  '-0',
  '1e3',
  ' 7 ',
  '1_000',
  'inf',
  '-Infinity',
  'nan',
  'x',
  '0x10',
  'true',
  '9223372036854775808',
  '99999999999',
  'a"b',
);

const csvFile = fc
  .record({
    columns: fc.array(fc.constantFrom(...types), { minLength: 2, maxLength: 4 }),
    crlf: fc.constantFrom('never', 'never', 'always', 'mixed'),
    bom: fc.boolean(),
    explicit: fc.boolean(),
    noise: fc.constantFrom(0, 0, 0.01, 0.1),
  })
  .chain(({ columns, crlf, bom, explicit, noise }) =>
    fc
      .array(
        fc.record({
          cells: fc.tuple(
            ...columns.map((type) =>
              fc
                .tuple(cleanCell(type), oddCell, fc.double({ min: 0, max: 1, noNaN: true }))
                .map(([clean, odd, p]) => (p < noise ? odd : clean)),
            ),
          ),
          blank: fc.double({ min: 0, max: 1, noNaN: true }),
          ragged: fc.double({ min: 0, max: 1, noNaN: true }),
          cr: fc.boolean(),
        }),
        { minLength: 1, maxLength: 40 },
      )
      .map((rows) => {
        const names = columns.map((_, i) => `c${i}`);
        const eol = (cr: boolean) => (crlf === 'always' || (crlf === 'mixed' && cr) ? '\r\n' : '\n');
        let text = (bom ? '\uFEFF' : '') + names.join(',') + eol(false);
        for (const row of rows) {
          const cells = row.ragged < noise / 3 ? row.cells.slice(1) : row.cells;
          text += cells.join(',') + eol(row.cr);
          if (row.blank < noise / 2) text += eol(row.cr);
        }
        const schema = explicit ? Object.fromEntries(names.map((n, i) => [n, columns[i]!])) : undefined;
        return { text, schema };
      }),
  );

describe('CSV: DuckDB path against the exact parser (property)', () => {
  it('yields the same rows, errors and skipped records on every planned part', async () => {
    await fc.assert(
      fc.asyncProperty(
        csvFile,
        fc.integer({ min: 8, max: 400 }),
        fc.boolean(),
        async ({ text, schema }, targetBytes, skip) => {
          const bytes = encoder.encode(text);
          const storage = makeMemoryStorage({ [URI]: bytes });
          const read = (start: number, end: number) => storage.read(URI, { start, end });
          const splits = await planCsvSplits(readBlocks(read, bytes.length, 64), bytes.length, targetBytes);
          for (const s of splits) {
            const part = { uri: URI, size: bytes.length, range: { kind: 'bytes' as const, ...s } };
            const expected = await readOutcome(exact, storage, part, { schema, skip });
            const actual = await readOutcome(duckdb, storage, part, { schema, skip });
            expect(actual).toEqual(expected);
          }
        },
      ),
      { numRuns: 120 },
    );
  }, 120_000);
});
