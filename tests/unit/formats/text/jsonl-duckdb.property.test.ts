/**
 * The DuckDB JSONL path against the exact reader it stands in for (the reference): on random JSONL files
 * with numbers, text, nulls, missing keys, blank lines, CRLF, a BOM, and odd lines and values (booleans in
 * number columns, text in number columns, `null` lines, NaN literals, trailing commas, `-0`, nested
 * values, duplicate keys, broken JSON), over planned splits, both yield the same rows, throw the same
 * error, or skip the same records with the same text and reason.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { makeJsonlDuckdbReader } from '../../../../services/formats/text/jsonl-duckdb-reader.js';
import { makeJsonlReader } from '../../../../services/formats/text/jsonl-reader.js';
import { makeJsonlValueCheck } from '../../../../services/formats/text/jsonl-value-check.js';
import { planJsonlSplits } from '../../../../services/formats/text/text-split.js';
import type { ColumnTypeName } from '../../../../services/formats/format-reader.js';
import { makeMemoryStorage } from '../../../helpers/memory-storage.js';
import { readOutcome } from '../../../helpers/text-reading.js';

const URI = 'mem://bucket/data.jsonl';
const encoder = new TextEncoder();
const duckdb = makeJsonlDuckdbReader({ minDuckdbBytes: 0 });
const exact = makeJsonlReader();

afterAll(() => duckdb.close());

const types: ColumnTypeName[] = ['string', 'float64', 'float32', 'int64', 'int32'];

/** A value any reader of a valid file must read: numbers for numeric columns, any text for strings. */
const cleanValue = (type: ColumnTypeName): fc.Arbitrary<string> => {
  switch (type) {
    case 'string':
      return fc
        .string({ unit: fc.constantFrom('a', 'b', ' ', ',', '"', '\\', '\n', 'é', '😀', '1', ':', '{') })
        .map((s) => JSON.stringify(s));
    case 'int32':
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map(String);
    case 'int64':
      return fc.maxSafeInteger().map(String);
    default:
      return fc.oneof(
        fc
          .double({ noNaN: true, noDefaultInfinity: true })
          .map((d) => (Object.is(d, -0) ? '-0.0' : String(d))),
        fc.float({ noNaN: true, noDefaultInfinity: true }).map((f) => f.toPrecision(9)),
        fc.integer().map(String),
      );
  }
};

/** Values some reader may refuse or read differently: each must end the same way on both paths. */
const oddValue = fc.constantFrom(
  'null',
  'true',
  'false',
  '"1.5"',
  '" 7 "',
  '"x"',
  '1.5',
  '-0',
  '-0.0',
  '1e3',
  '1E400',
  '3.5e38',
  'NaN',
  '-Infinity',
  '9223372036854775808',
  '123456789012345678',
  '{"a": 1}',
  '[1, 2]',
  '[1, 2,]',
  '"\\ud800"',
  '"\\u0000"',
);

/** Whole lines that are not a plain record. */
const oddLine = fc.constantFrom('null', '[]', '1', '"s"', '{}', '{"c0": 1,}', '{"c0": 1', 'not json', '  ');

const jsonlFile = fc
  .record({
    columns: fc.array(fc.constantFrom(...types), { minLength: 1, maxLength: 4 }),
    crlf: fc.constantFrom('never', 'never', 'always', 'mixed'),
    bom: fc.boolean(),
    explicit: fc.boolean(),
    noise: fc.constantFrom(0, 0, 0.01, 0.1),
  })
  .chain(({ columns, crlf, bom, explicit, noise }) =>
    fc
      .array(
        fc.record({
          values: fc.tuple(
            ...columns.map((type) =>
              fc
                .tuple(cleanValue(type), oddValue, fc.double({ min: 0, max: 1, noNaN: true }))
                .map(([clean, odd, p]) => (p < noise ? odd : clean)),
            ),
          ),
          missing: fc.double({ min: 0, max: 1, noNaN: true }),
          duplicate: fc.double({ min: 0, max: 1, noNaN: true }),
          blank: fc.double({ min: 0, max: 1, noNaN: true }),
          odd: fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), oddLine),
          spaces: fc.boolean(),
          cr: fc.boolean(),
        }),
        { minLength: 1, maxLength: 40 },
      )
      .map((rows) => {
        const names = columns.map((_, i) => `c${i}`);
        const eol = (cr: boolean) => (crlf === 'always' || (crlf === 'mixed' && cr) ? '\r\n' : '\n');
        let text = bom ? '\uFEFF' : '';
        for (const row of rows) {
          const sep = row.spaces ? ': ' : ':';
          const fields = row.values.flatMap((v, i) =>
            row.missing < noise / 2 && i === 0 ? [] : [`"${names[i]}"${sep}${v}`],
          );
          if (row.duplicate < noise / 4) fields.push(`"${names[0]}"${sep}0`);
          fields.push(`"other"${sep}true`);
          text += row.odd[0] < noise / 2 ? row.odd[1] : `{${fields.join(row.spaces ? ', ' : ',')}}`;
          text += eol(row.cr);
          if (row.blank < noise) text += eol(row.cr);
        }
        const schema = explicit ? Object.fromEntries(names.map((n, i) => [n, columns[i]!])) : undefined;
        return { text, schema, names };
      }),
  );

describe('JSONL: DuckDB path against the exact reader (property)', () => {
  it('yields the same rows, errors and skipped records on every planned part', async () => {
    await fc.assert(
      fc.asyncProperty(
        jsonlFile,
        fc.integer({ min: 8, max: 600 }),
        fc.boolean(),
        async ({ text, schema, names }, targetBytes, skip) => {
          const bytes = encoder.encode(text);
          const storage = makeMemoryStorage({ [URI]: bytes });
          for (const s of planJsonlSplits(bytes.length, targetBytes)) {
            const part = { uri: URI, size: bytes.length, range: { kind: 'bytes' as const, ...s } };
            // As a job reads: the model's columns only (the boolean `other` would send every part exact).
            const options = { schema, skip, columns: names };
            const expected = await readOutcome(exact, storage, part, options);
            const actual = await readOutcome(duckdb, storage, part, options);
            expect(actual).toEqual(expected);
          }
        },
      ),
      { numRuns: 150 },
    );
  }, 180_000);

  it('lets clean rows through the value check, whatever the block boundaries', () => {
    // Clean numeric rows must not trip the value check, or the fast path would never run.
    const lines = Array.from({ length: 500 }, (_, i) => JSON.stringify({ id: i, x: i / 7, s: `r${i}` }));
    const check = makeJsonlValueCheck(['id', 'x']);
    const bytes = encoder.encode(lines.join('\n') + '\n');
    // Fed in blocks that split keys, strings and numbers anywhere.
    for (let at = 0; at < bytes.length; at += 7) check.feed(bytes.subarray(at, at + 7));
    expect(check.suspicious).toBe(false);
  });
});

describe('JSONL value check', () => {
  const flagged = (text: string, block = 3): boolean => {
    const check = makeJsonlValueCheck(['n', 'f']);
    const bytes = encoder.encode(text);
    for (let at = 0; at < bytes.length; at += block) check.feed(bytes.subarray(at, at + block));
    return check.suspicious;
  };

  it.each([
    ['a boolean in a number column', '{"n": true}\n'],
    ['a boolean in a float column', '{"f":false}\n'],
    ['text in a number column', '{"n": "1.5"}\n'],
    ['text in a float column', '{"f": "NaN"}\n'],
    ['a null line', '{"n": 1}\nnull\n'],
    ['an array line', '[1]\n'],
    ['a NaN literal anywhere', '{"n": 1, "other": NaN}\n'],
    ['an Infinity literal', '{"f": -Infinity}\n'],
    ['a trailing comma', '{"n": 1,}\n'],
    ['a trailing comma in an array', '{"other": [1, 2,]}\n'],
    ['the integer -0', '{"f": -0}\n'],
    ['the integer -0 at a line end', '{"f": 1, "g": -0\n'],
    ['an object in a number column', '{"n": {"a": 1}}\n'],
  ])('flags %s', (_name, text) => {
    expect(flagged(text)).toBe(true);
    expect(flagged(text, 1)).toBe(true);
    expect(flagged(text, 1 << 20)).toBe(true);
  });

  it.each([
    ['numbers, text and nulls', '{"n": -12, "f": -0.0, "s": "a\\"b:c", "other": true}\n'],
    ['negative fractions and zeros', '{"n": -0.5, "f": -0e1, "g": 0, "h": -10}\n'],
    ['booleans and text in other columns', '{"s": "x", "b": true, "o": {"n": 1}, "n": 2}\n'],
    ['exponents', '{"f": 1.5e-3, "n": 2E5}\n'],
    ['nulls', '{"n": null, "f": null, "s": null}\n'],
    ['a key like a read column inside text', '{"s": "\\"n\\": true"}\n'],
    ['blank lines and CRLF', '\r\n{"n": 1}\r\n\r\n{"n": 2}\r\n'],
  ])('passes %s', (_name, text) => {
    expect(flagged(text)).toBe(false);
    expect(flagged(text, 1)).toBe(false);
  });
});
