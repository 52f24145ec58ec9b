import type { RecordBatch } from 'apache-arrow';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planJsonlSplits } from '../../../../services/formats/text/text-split.js';
import { makeJsonlReader } from '../../../../services/formats/text/jsonl-reader.js';
import { makeMemoryStorage } from '../../../helpers/memory-storage.js';

const URI = 'mem://bucket/data.jsonl';
const encoder = new TextEncoder();

/** The oracle: split on \n, drop blank lines, parse each. */
function referenceRows(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const value = fc.oneof(
  fc.string({ unit: fc.constantFrom('a', ' ', '\n', '\r', '"', '\\', 'é', '😀', '{', '}') }),
  fc.constant(null),
);
const jsonlFile = fc
  .record({
    rows: fc.array(
      fc.record({
        a: value,
        b: fc.option(value, { nil: undefined }),
        pretty: fc.boolean(),
        ending: fc.constantFrom('\n', '\r\n'),
        blankBefore: fc.constantFrom('', '\n', '  \n', '\r\n'),
      }),
      { maxLength: 25 },
    ),
    finalNewline: fc.boolean(),
  })
  .map(({ rows, finalNewline }) => {
    let text = '';
    rows.forEach((r, i) => {
      const record: Record<string, unknown> = { a: r.a };
      if (r.b !== undefined) record.b = r.b;
      text += r.blankBefore + JSON.stringify(record, null, r.pretty ? 0 : undefined).replace(/\n/g, ' ');
      if (i < rows.length - 1 || finalNewline) text += r.ending;
    });
    return text;
  });

function rowsOf(batches: RecordBatch[]): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const batch of batches) {
    for (let r = 0; r < batch.numRows; r++) {
      rows.push({ a: batch.getChild('a')!.get(r) as unknown, b: batch.getChild('b')!.get(r) as unknown });
    }
  }
  return rows;
}

describe('JSONL reader over arbitrary splits (property)', () => {
  it('reads every line exactly once for any split offsets', async () => {
    await fc.assert(
      fc.asyncProperty(
        jsonlFile,
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.record({
          blockSize: fc.integer({ min: 1, max: 64 }),
          tailBlockSize: fc.integer({ min: 1, max: 16 }),
          headBytes: fc.integer({ min: 1, max: 128 }),
          batchRows: fc.integer({ min: 1, max: 7 }),
        }),
        async (text, offsets, knobs) => {
          const bytes = encoder.encode(text);
          const storage = makeMemoryStorage({ [URI]: bytes });
          // Raw byte offsets, not aligned to anything, may even split a UTF-8 character.
          const cuts = [...new Set(offsets.map((o) => o % (bytes.length + 1)))]
            .filter((o) => o > 0 && o < bytes.length)
            .sort((x, y) => x - y);
          const bounds = [0, ...cuts, bytes.length];
          const reader = makeJsonlReader(knobs);
          const actual: Record<string, unknown>[] = [];
          for (let i = 0; i + 1 < bounds.length; i++) {
            const part = {
              uri: URI,
              size: bytes.length,
              range: { kind: 'bytes' as const, start: bounds[i]!, end: bounds[i + 1]! },
            };
            const batches: RecordBatch[] = [];
            for await (const b of reader.readPart(storage, part, { schema: { a: 'string', b: 'string' } })) {
              batches.push(b);
            }
            actual.push(...rowsOf(batches));
          }
          const expected = referenceRows(text).map((r) => ({ a: r.a ?? null, b: r.b ?? null }));
          expect(actual).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('planJsonlSplits tiles the object in parts of about the target size', () => {
    fc.assert(
      fc.property(fc.nat({ max: 1_000_000 }), fc.integer({ min: 1000, max: 100_000 }), (size, target) => {
        const splits = planJsonlSplits(size, target);
        if (size === 0) {
          expect(splits).toEqual([]);
          return;
        }
        expect(splits[0]!.start).toBe(0);
        expect(splits.at(-1)!.end).toBe(size);
        splits.forEach((s, i) => {
          if (i > 0) expect(s.start).toBe(splits[i - 1]!.end);
          expect(s.end).toBeGreaterThan(s.start);
          expect(s.end - s.start).toBeLessThanOrEqual(target);
        });
        expect(splits.length).toBe(Math.ceil(size / target));
      }),
    );
  });
});
