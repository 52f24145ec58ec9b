/**
 * Staging files kept from part to part (duckdb-staging.ts): a part is staged over the previous part's file
 * (same inode, fresh name), cut to its own length, and the idle files go when the reader closes.
 */
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeFormatReaders } from '../../../../services/formats/make-reader.js';
import { makeCsvReader } from '../../../../services/formats/text/csv-duckdb-reader.js';
import { makeJsonlDuckdbReader } from '../../../../services/formats/text/jsonl-duckdb-reader.js';
import { makeStagingFiles, stageRecords } from '../../../../services/formats/text/duckdb-staging.js';
import { textReaderKnobs } from '../../../../services/formats/text/record-boundaries.js';
import { readText } from '../../../helpers/text-reading.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'quiver-staging-test-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Stages `text` (newline-separated records) at `path` as a reader would. */
function stage(path: string, text: string): Promise<number | undefined> {
  const bytes = new TextEncoder().encode(text);
  const slice = (from: number, to: number) => bytes.slice(from, to);
  return stageRecords({
    format: 'csv',
    uri: 'mem://bucket/x.csv',
    read: (from, to) => Promise.resolve(slice(from, to)),
    readInto: (from, to, into) => {
      into.set(bytes.subarray(from, to));
      return Promise.resolve(into.subarray(0, to - from));
    },
    start: 0,
    end: bytes.length,
    size: bytes.length,
    path,
    stripBom: false,
    boundaries: { lastStart: (block) => block.lastIndexOf(10) + 1 || -1, nextStart: () => -1 },
    inspect: () => undefined,
    knobs: textReaderKnobs({}),
    stageBlockBytes: 1024,
  });
}

describe('staging files', () => {
  it('stages the next part over the last one: same inode, a fresh name, exactly the new bytes', async () => {
    const staging = makeStagingFiles(dir);
    const first = await staging.take('.csv');
    expect(await stage(first, 'a,b\n'.repeat(5_000))).toBe(20_000);
    const inode = (await stat(first)).ino;
    await staging.give(first);

    const second = await staging.take('.csv');
    expect(second).not.toBe(first);
    await expect(stat(first)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await stat(second)).ino).toBe(inode);
    // Shorter than the first part: what the first left past its length is cut off.
    expect(await stage(second, 'x,y\n1,2\n')).toBe(8);
    expect(await readFile(second, 'utf8')).toBe('x,y\n1,2\n');
    await staging.give(second);
    expect(await readdir(dir)).toHaveLength(1);
    await staging.close();
    expect(await readdir(dir)).toEqual([]);
  });

  it('gives parts in flight files of their own and keeps at most maxIdle of them', async () => {
    const staging = makeStagingFiles(dir, 2);
    const paths = await Promise.all([staging.take('.csv'), staging.take('.csv'), staging.take('.csv')]);
    expect(new Set(paths).size).toBe(3);
    for (const path of paths) await writeFile(path, 'a\n');
    for (const path of paths) await staging.give(path);
    expect(await readdir(dir)).toHaveLength(2);
    await staging.close();
    // Once closed, a part's file goes as it finishes.
    const late = await staging.take('.csv');
    await writeFile(late, 'a\n');
    await staging.give(late);
    expect(await readdir(dir)).toEqual([]);
  });

  it('a staging file removed while idle (a temp cleaner) just means a new one', async () => {
    const staging = makeStagingFiles(dir);
    const first = await staging.take('.csv');
    await writeFile(first, 'a\n');
    await staging.give(first);
    await rm(first);
    const second = await staging.take('.csv');
    expect(await stage(second, 'q\n')).toBe(2);
    expect(await readFile(second, 'utf8')).toBe('q\n');
    await staging.close();
  });

  it.each([
    [
      'csv',
      () => makeCsvReader({ tempDir: dir, minDuckdbBytes: 0 }),
      (n: number) => `id,v\n${rows(n, (i) => `${i},${i / 2}`)}`,
    ],
    [
      'jsonl',
      () => makeJsonlDuckdbReader({ tempDir: dir, minDuckdbBytes: 0 }),
      (n: number) => rows(n, (i) => `{"id":${i},"v":${i / 2}}`),
    ],
  ] as const)(
    '%s: a long part then a short one through one reader reads each exactly',
    async (_, make, file) => {
      const reader = make();
      try {
        for (const n of [20_000, 3, 700]) {
          const batches = await readText(reader, 'mem://bucket/data', file(n), { schema: { v: 'float64' } });
          const column = (name: string): unknown[] =>
            batches.flatMap((b) => Array.from(b.getChild(name)!.toArray() as ArrayLike<unknown>));
          const ids = column('id').map(Number);
          const values = column('v');
          expect(ids).toEqual(Array.from({ length: n }, (_, i) => i));
          expect(values).toEqual(Array.from({ length: n }, (_, i) => i / 2));
          // The part's staging file waits for the next part.
          expect(await readdir(dir)).toHaveLength(1);
        }
      } finally {
        await reader.close();
      }
      expect(await readdir(dir)).toEqual([]);
    },
  );

  it("the process's readers remove their CSV and JSONL staging files when closed", async () => {
    const readers = makeFormatReaders({ csv: { tempDir: dir } });
    const big = 'id,v\n' + rows(40_000, (i) => `${i},${i}`);
    await readText(readers.readerFor('csv'), 'mem://bucket/a.csv', big);
    await readText(
      readers.readerFor('jsonl'),
      'mem://bucket/a.jsonl',
      rows(40_000, (i) => `{"id":${i}}`),
    );
    expect(await readdir(dir)).toHaveLength(2);
    await readers.close();
    expect(await readdir(dir)).toEqual([]);
  });
});

function rows(n: number, row: (i: number) => string): string {
  return Array.from({ length: n }, (_, i) => `${row(i)}\n`).join('');
}
