import { describe, expect, it } from 'vitest';
import { planInput } from '../../../jobs/plan/plan-input.js';
import { MAX_DESCRIPTOR_BYTES } from '../../../schemas/chunk-descriptor.js';
import { fakeInput, makeFakeReaders } from '../../helpers/memory-ports/fake-readers.js';
import { makeMemoryStorage } from '../../helpers/memory-storage.js';

describe('planning with input.hivePartitioning', () => {
  const storage = makeMemoryStorage({
    's3://bucket/in/dt=2026-11-28/country=de/a.csv': fakeInput(25),
    's3://bucket/in/dt=2026-11-28/country=fr/b.csv': fakeInput(5),
    's3://bucket/in/dt=2026-11-29/country=de/c.csv': fakeInput(12),
  });

  it('types the partition columns once over every distinct folder, and every chunk carries them', async () => {
    const readers = makeFakeReaders({ splitRows: 10 });
    const asked: string[][] = [];
    const hiveColumns = readers.hiveColumns.bind(readers);
    readers.hiveColumns = (folders, options) => {
      asked.push([...folders]);
      return hiveColumns(folders, options);
    };
    const chunks = await planInput(
      storage,
      readers,
      { uri: 's3://bucket/in/', format: 'csv', hivePartitioning: true },
      { chunkRows: 10, chunkBytes: 1 << 20 },
    );
    expect(asked).toEqual([
      ['dt=2026-11-28/country=de/', 'dt=2026-11-28/country=fr/', 'dt=2026-11-29/country=de/'],
    ]);
    expect(chunks.length).toBeGreaterThan(3);
    for (const chunk of chunks) {
      expect(chunk.hive).toEqual([
        { name: 'dt', type: 'VARCHAR' },
        { name: 'country', type: 'VARCHAR' },
      ]);
      expect(JSON.stringify(chunk).length).toBeLessThanOrEqual(MAX_DESCRIPTOR_BYTES);
    }
  });

  it('keeps descriptors under the cap with the columns in them', async () => {
    // Thirty small objects group into few chunks, each closed at the descriptor cap.
    const many = makeMemoryStorage(
      Object.fromEntries(
        Array.from({ length: 30 }, (_, i) => [
          `s3://bucket/in/dt=2026-11-28/country=de/part-${i}.csv`,
          fakeInput(3),
        ]),
      ),
    );
    const plan = (hivePartitioning: boolean, maxDescriptorBytes: number) =>
      planInput(
        many,
        makeFakeReaders({ splitRows: 10 }),
        { uri: 's3://bucket/in/', format: 'csv', hivePartitioning },
        { chunkRows: 1_000, chunkBytes: 1 << 20, maxDescriptorBytes },
      );
    // The cap is the size of the fullest chunk planned without the columns: with them, chunks must hold less.
    const cap = Math.max(...(await plan(false, 600)).map((chunk) => JSON.stringify(chunk).length));
    const chunks = await plan(true, cap);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.reduce((n, chunk) => n + chunk.parts.length, 0)).toBe(30);
    for (const chunk of chunks) {
      expect(chunk.hive).toHaveLength(2);
      expect(JSON.stringify(chunk).length).toBeLessThanOrEqual(cap);
    }
  });

  it('adds nothing without it', async () => {
    const chunks = await planInput(
      storage,
      makeFakeReaders(),
      { uri: 's3://bucket/in/', format: 'csv' },
      { chunkRows: 10, chunkBytes: 1 << 20 },
    );
    expect(chunks.every((chunk) => !('hive' in chunk))).toBe(true);
  });
});
