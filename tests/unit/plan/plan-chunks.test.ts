import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ChunkDescriptor,
  MAX_DESCRIPTOR_BYTES,
  chunkDescriptorSchema,
} from '../../../schemas/chunk-descriptor.js';
import { type ParquetLayout, planByteChunks, planParquetChunks } from '../../../jobs/plan/plan-chunks.js';

const parquetFile = (name: string, groups: number[], bytesPerRow = 10): ParquetLayout => ({
  uri: `s3://bucket/in/${name}`,
  size: groups.reduce((a, r) => a + r * bytesPerRow, 0) + 1000,
  etag: `"${name}"`,
  rowGroups: groups.map((rows) => ({ rows, bytes: rows * bytesPerRow })),
});

/** Every (uri, row group) a plan reads, in plan order. */
function rowGroupsRead(chunks: ChunkDescriptor[]): string[] {
  return chunks.flatMap((chunk) =>
    chunk.parts.flatMap((part) => {
      if (part.range.kind !== 'rowGroups') throw new Error('expected row groups');
      return Array.from(
        { length: part.range.end - part.range.start },
        (_, i) => `${part.uri}#${part.range.kind === 'rowGroups' ? part.range.start + i : -1}`,
      );
    }),
  );
}

describe('planParquetChunks', () => {
  it('splits a large file by row groups and numbers chunks densely', () => {
    const chunks = planParquetChunks([parquetFile('big.parquet', Array<number>(10).fill(100_000))], {
      chunkRows: 250_000,
      chunkBytes: 1 << 30,
    });
    expect(chunks.map((c) => c.index)).toEqual([0, 1, 2, 3, 4]);
    expect(chunks.map((c) => c.rows)).toEqual([200_000, 200_000, 200_000, 200_000, 200_000]);
    expect(chunks[1]!.parts).toEqual([
      {
        uri: 's3://bucket/in/big.parquet',
        size: 10_001_000,
        etag: '"big.parquet"',
        range: { kind: 'rowGroups', start: 2, end: 4, rowOffset: 200_000 },
        rows: 200_000,
      },
    ]);
  });

  it('groups small files into one chunk up to the targets', () => {
    const files = Array.from({ length: 30 }, (_, i) =>
      parquetFile(`part-${String(i).padStart(3, '0')}.parquet`, [1_000]),
    );
    const chunks = planParquetChunks(files, { chunkRows: 5_000, chunkBytes: 1 << 30 });
    expect(chunks).toHaveLength(6);
    expect(chunks.every((c) => c.parts.length === 5 && c.rows === 5_000)).toBe(true);
  });

  it('gives an oversized row group a chunk of its own rather than splitting it', () => {
    const chunks = planParquetChunks([parquetFile('a.parquet', [10, 1_000_000, 10])], {
      chunkRows: 1_000,
      chunkBytes: 1 << 30,
    });
    expect(chunks.map((c) => c.rows)).toEqual([10, 1_000_000, 10]);
  });

  it('closes a chunk before its descriptor outgrows the cap', () => {
    const long = 'x'.repeat(300);
    const files = Array.from({ length: 40 }, (_, i) => parquetFile(`${long}-${i}.parquet`, [1]));
    const chunks = planParquetChunks(files, { chunkRows: 1_000_000, chunkBytes: 1 << 30 });
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks)
      expect(JSON.stringify(chunk).length).toBeLessThanOrEqual(MAX_DESCRIPTOR_BYTES);
  });

  it('plans nothing for empty files and skips empty row groups', () => {
    expect(planParquetChunks([parquetFile('empty.parquet', [])], { chunkRows: 10, chunkBytes: 10 })).toEqual(
      [],
    );
    const chunks = planParquetChunks([parquetFile('a.parquet', [5, 0, 5])], {
      chunkRows: 100,
      chunkBytes: 1 << 30,
    });
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.parts.map((p) => p.range)).toEqual([
      { kind: 'rowGroups', start: 0, end: 1, rowOffset: 0 },
      { kind: 'rowGroups', start: 2, end: 3, rowOffset: 5 },
    ]);
  });

  it('reads every row group exactly once, in order, within targets, deterministically (property)', () => {
    const layouts = fc.array(
      fc.record({
        name: fc.stringMatching(/^[a-z0-9]{1,12}$/),
        groups: fc.array(fc.integer({ min: 0, max: 5_000 }), { maxLength: 12 }),
      }),
      { maxLength: 25 },
    );
    fc.assert(
      fc.property(
        layouts,
        fc.integer({ min: 1, max: 20_000 }),
        fc.integer({ min: 1, max: 200_000 }),
        (raw, chunkRows, chunkBytes) => {
          const seen = new Set<string>();
          const objects = raw
            .filter((o) => !seen.has(o.name) && seen.add(o.name))
            .map((o) => parquetFile(`${o.name}.parquet`, o.groups));
          const options = { chunkRows, chunkBytes };
          const chunks = planParquetChunks(objects, options);
          const expected = [...objects]
            .sort((a, b) => (a.uri < b.uri ? -1 : 1))
            .flatMap((o) => o.rowGroups.flatMap((g, i) => (g.rows > 0 ? [`${o.uri}#${i}`] : [])));
          expect(rowGroupsRead(chunks)).toEqual(expected);
          expect(chunks.map((c) => c.index)).toEqual(chunks.map((_, i) => i));
          const total = objects.reduce((a, o) => a + o.rowGroups.reduce((b, g) => b + g.rows, 0), 0);
          expect(chunks.reduce((a, c) => a + (c.rows ?? 0), 0)).toBe(total);
          for (const chunk of chunks) {
            chunkDescriptorSchema.parse(chunk);
            const pieces = rowGroupsRead([chunk]).length;
            if (pieces > 1) {
              expect(chunk.rows!).toBeLessThanOrEqual(chunkRows);
              expect(chunk.bytes).toBeLessThanOrEqual(chunkBytes);
            }
            expect(JSON.stringify(chunk).length).toBeLessThanOrEqual(MAX_DESCRIPTOR_BYTES);
          }
          expect(planParquetChunks([...objects].reverse(), options)).toEqual(chunks);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('planByteChunks', () => {
  it('turns record-aligned segments into byte ranges covering the object exactly once', () => {
    const segments = [
      { start: 0, end: 300, rows: 10 },
      { start: 300, end: 600, rows: 12 },
      { start: 600, end: 900, rows: 9 },
      { start: 900, end: 1_000, rows: 3 },
    ];
    const chunks = planByteChunks('csv', [{ uri: 'file:///d/a.csv', size: 1_000, segments }], {
      chunkRows: 1_000_000,
      chunkBytes: 400,
    });
    expect(chunks.map((c) => c.parts.map((p) => p.range))).toEqual([
      [{ kind: 'bytes', start: 0, end: 300 }],
      [{ kind: 'bytes', start: 300, end: 600 }],
      [{ kind: 'bytes', start: 600, end: 1_000 }],
    ]);
    expect(chunks.map((c) => c.rows)).toEqual([10, 12, 12]);
    // A part merged from two pieces holds both pieces' rows (error locations rely on it).
    expect(chunks.map((c) => c.parts.map((p) => p.rows))).toEqual([[10], [12], [12]]);
  });

  it('gives CSV parts the index of their first record so errors can name exact rows', () => {
    const segments = [
      { start: 0, end: 300, rows: 10, records: 11 },
      { start: 300, end: 600, rows: 12, records: 12 },
      { start: 600, end: 900, rows: 0, records: 2 },
      { start: 900, end: 1_000, rows: 3, records: 3 },
    ];
    const chunks = planByteChunks('csv', [{ uri: 'file:///d/a.csv', size: 1_000, segments }], {
      chunkRows: 1_000_000,
      chunkBytes: 300,
    });
    expect(chunks.map((c) => c.parts.map((p) => p.range))).toEqual([
      [{ kind: 'bytes', start: 0, end: 300, rowOffset: 0 }],
      [{ kind: 'bytes', start: 300, end: 600, rowOffset: 11 }],
      [{ kind: 'bytes', start: 900, end: 1_000, rowOffset: 25 }],
    ]);
  });

  it('leaves rows unknown where the splitter did not count them (JSONL)', () => {
    const segments = [
      { start: 0, end: 500 },
      { start: 500, end: 1_000 },
    ];
    const chunks = planByteChunks('jsonl', [{ uri: 'file:///d/a.jsonl', size: 1_000, segments }], {
      chunkRows: 1,
      chunkBytes: 500,
    });
    expect(chunks).toHaveLength(2);
    expect(chunks.every((c) => c.rows === undefined)).toBe(true);
  });

  it('reads Arrow IPC objects whole and groups small ones', () => {
    const objects = ['b', 'a', 'c'].map((n) => ({ uri: `s3://bkt/${n}.arrow`, size: 100 }));
    const chunks = planByteChunks('arrow', objects, { chunkRows: 1, chunkBytes: 250 });
    expect(chunks.map((c) => c.parts.map((p) => [p.uri, p.range.kind]))).toEqual([
      [
        ['s3://bkt/a.arrow', 'whole'],
        ['s3://bkt/b.arrow', 'whole'],
      ],
      [['s3://bkt/c.arrow', 'whole']],
    ]);
  });

  it('skips empty objects and header-only segments', () => {
    const layouts = [
      { uri: 'file:///d/empty.csv', size: 0 },
      { uri: 'file:///d/h.csv', size: 12, segments: [{ start: 0, end: 12, rows: 0 }] },
    ];
    expect(planByteChunks('csv', layouts, { chunkRows: 1, chunkBytes: 1 })).toEqual([]);
  });
});
