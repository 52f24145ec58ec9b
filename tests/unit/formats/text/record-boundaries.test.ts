import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  forEachCsvRecordStart,
  lastCsvRecordStart,
  nextCsvRecordStart,
} from '../../../../services/formats/text/record-boundaries.js';

const bytes = (s: string) => new TextEncoder().encode(s);

/** Record starts by a char-at-a-time walk with quote parity: the oracle. */
function referenceStarts(text: Uint8Array): number[] {
  const starts: number[] = [];
  let inQuotes = false;
  text.forEach((b, i) => {
    if (b === 0x22) inQuotes = !inQuotes;
    else if (b === 0x0a && !inQuotes) starts.push(i + 1);
  });
  return starts;
}

const csvText = fc
  .array(fc.constantFrom('a', ',', '\n', '"', '""', '"x\ny"', '\r\n', 'é'), { maxLength: 60 })
  .map((parts) => bytes(parts.join('')));

describe('record boundaries', () => {
  it('finds quoted newlines are not record ends', () => {
    const b = bytes('a,"x\ny"\nb,c\n');
    expect(nextCsvRecordStart(b, 0, 1, { inQuotes: false })).toBe(8);
    expect(lastCsvRecordStart(b, 0, { inQuotes: false })).toBe(b.length);
  });

  it('agrees with a per-byte walk, across any split into blocks', () => {
    fc.assert(
      fc.property(csvText, fc.array(fc.nat(), { maxLength: 5 }), (text, cutsRaw) => {
        const expected = referenceStarts(text);
        const cuts = [...new Set(cutsRaw.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const bounds = [0, ...cuts, text.length];
        const state = { inQuotes: false };
        const found: number[] = [];
        for (let i = 0; i + 1 < bounds.length; i++) {
          const from = bounds[i]!;
          forEachCsvRecordStart(text.subarray(from, bounds[i + 1]), 0, state, (o) => found.push(from + o));
        }
        expect(found).toEqual(expected);
        expect(lastCsvRecordStart(text, 0, { inQuotes: false })).toBe(expected.at(-1) ?? -1);
        for (let min = 1; min <= text.length; min++) {
          expect(nextCsvRecordStart(text, 0, min, { inQuotes: false })).toBe(
            expected.find((s) => s >= min) ?? -1,
          );
        }
      }),
    );
  });
});
