import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  planCsvSplits,
  planJsonlSplits,
  splitTargets,
} from '../../../../services/formats/text/text-split.js';

async function* blocksOf(text: string, blockSize: number): AsyncGenerator<Uint8Array> {
  const b = new TextEncoder().encode(text);
  for (let i = 0; i < b.length; i += blockSize) {
    await Promise.resolve();
    yield b.subarray(i, i + blockSize);
  }
}

describe('text splits', () => {
  it('splitTargets spaces cuts evenly', () => {
    expect(splitTargets(100, 30)).toEqual([25, 50, 75]);
    expect(splitTargets(10, 100)).toEqual([]);
    expect(() => splitTargets(10, 0)).toThrow(RangeError);
  });

  it('CSV cuts land only on record starts, never inside a quoted newline or the header', async () => {
    const text = 'h1,h2\n1,"a\nb\nc"\n2,x\n\n3,y\r\n4,"z"';
    const splits = await planCsvSplits(blocksOf(text, 3), text.length, 4);
    // Record starts: 6 (after the header), 16, 20 (a blank line), 21, 26; targets every ~4 bytes.
    expect(splits.map((s) => s.start)).toEqual([0, 16, 20, 26]);
    expect(splits.map((s) => s.rows)).toEqual([1, 1, 1, 1]);
    expect(splits.at(-1)!.end).toBe(text.length);
  });

  it('counts rows without a header and merges parts around a record longer than the target', async () => {
    const text = `1\n"${'x'.repeat(100)}"\n3\n`;
    const splits = await planCsvSplits(blocksOf(text, 7), text.length, 10, { header: false });
    expect(splits.reduce((n, s) => n + s.rows!, 0)).toBe(3);
    // The long record swallows every target it covers: one cut after it, none inside it.
    expect(splits.map((s) => s.start)).toEqual([0, text.length - 2]);
  });

  it('CSV splits tile the object for any target size and block size', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('a', ',', '\n', '"q\nq"', '\r\n'), { maxLength: 80 }),
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 20 }),
        async (parts, target, block) => {
          const text = parts.join('');
          const splits = await planCsvSplits(blocksOf(text, block), text.length, target);
          if (text.length === 0) return;
          expect(splits[0]!.start).toBe(0);
          expect(splits.at(-1)!.end).toBe(text.length);
          splits.forEach((s, i) => {
            expect(s.end).toBeGreaterThan(s.start);
            if (i > 0) {
              expect(s.start).toBe(splits[i - 1]!.end);
              expect(text[s.start - 1]).toBe('\n');
            }
          });
        },
      ),
    );
  });

  it('JSONL splits need no I/O', () => {
    expect(planJsonlSplits(10, 4)).toEqual([
      { start: 0, end: 3 },
      { start: 3, end: 6 },
      { start: 6, end: 10 },
    ]);
    expect(planJsonlSplits(0, 4)).toEqual([]);
  });
});
