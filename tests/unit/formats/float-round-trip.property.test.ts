/**
 * The text writers' float rule (README "Formats"): every finite float32 and float64 a CSV or JSON Lines part
 * holds reads back bit-identical — subnormals, extremes and -0 included — by Quiver's own readers and by
 * DuckDB (`read_csv`/`read_json` into FLOAT/DOUBLE columns, what a downstream table does); ±Infinity read
 * back as themselves and every NaN as a NaN (its sign and payload bits are not kept).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { Float32, Float64, RecordBatch, vectorFromArray } from 'apache-arrow';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FormatReader } from '../../../services/formats/format-reader.js';
import { makeCsvReader } from '../../../services/formats/text/csv-duckdb-reader.js';
import { makeExactCsvReader } from '../../../services/formats/text/csv-reader.js';
import { makeJsonlReader } from '../../../services/formats/text/jsonl-reader.js';
import { encodeBatches } from '../../../services/formats/writers/make-writer.js';
import { makeMemoryStorage } from '../../helpers/memory-storage.js';

const f32 = (bits: number): number => new Float32Array(new Uint32Array([bits]).buffer)[0]!;

/** Values a shortest-text writer gets wrong first: signed zeros, subnormals, the ends of each range. */
const SPECIAL_FLOAT32 = [
  0,
  -0,
  f32(0x00000001), // smallest subnormal, 1.4e-45
  f32(0x807fffff), // largest subnormal, negative
  f32(0x00800000), // smallest normal
  f32(0x7f7fffff), // largest finite
  f32(0xff7fffff),
  f32(0x3f800001), // 1 + 1 ulp: needs all 9 digits
  Math.fround(0.1),
  Math.fround(16_777_217),
  Math.fround(1e20), // an integer beyond int64: must not be read as one
  Infinity,
  -Infinity,
  NaN,
];
const SPECIAL_FLOAT64 = [
  0,
  -0,
  Number.MIN_VALUE, // 5e-324
  -2.225073858507201e-308, // largest subnormal
  2.2250738585072014e-308, // smallest normal
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  1 + Number.EPSILON,
  0.1 + 0.2,
  2 ** 53 + 2,
  1.8446744073709552e19, // 2^64, past int64
  1e21,
  Infinity,
  -Infinity,
  NaN,
];

/** Same value, bit for bit, apart from NaN: any NaN stands for any NaN. */
function sameFloat(actual: unknown, expected: number): boolean {
  if (Number.isNaN(expected)) return typeof actual === 'number' && Number.isNaN(actual);
  return Object.is(actual, expected);
}

const show = (value: unknown): string => (Object.is(value, -0) ? '-0' : String(value));

function mismatches(label: string, read: ArrayLike<unknown>, expected: readonly number[]): string[] {
  const found: string[] = [];
  if (read.length !== expected.length) found.push(`${label}: ${read.length} rows, not ${expected.length}`);
  for (let i = 0; i < expected.length && found.length < 5; i++) {
    if (!sameFloat(read[i], expected[i]!))
      found.push(`${label}[${i}]: ${show(read[i])} != ${show(expected[i])}`);
  }
  return found;
}

function floatsBatch(singles: readonly number[], doubles: readonly number[]): RecordBatch {
  return new RecordBatch({
    f32: vectorFromArray(singles, new Float32()).data[0]!,
    f64: vectorFromArray(doubles, new Float64()).data[0]!,
  });
}

const URI = { csv: 'mem://floats/part.csv', jsonl: 'mem://floats/part.jsonl' } as const;
const SCHEMA = { f32: 'float32', f64: 'float64' } as const;

const duckdbCsv = makeCsvReader({ minDuckdbBytes: 0 });
const READERS: Record<'csv' | 'jsonl', Array<[string, FormatReader]>> = {
  csv: [
    ['quiver csv (duckdb)', duckdbCsv],
    ['quiver csv (exact)', makeExactCsvReader()],
  ],
  jsonl: [['quiver jsonl', makeJsonlReader()]],
};

/** DuckDB as a downstream table reads the files: explicit FLOAT and DOUBLE columns. */
const DUCKDB_SOURCE = {
  csv: (path: string) =>
    `read_csv('${path}', header = true, auto_detect = false, columns = {'f32': 'FLOAT', 'f64': 'DOUBLE'})`,
  jsonl: (path: string) =>
    `read_json('${path}', format = 'newline_delimited', columns = {'f32': 'FLOAT', 'f64': 'DOUBLE'})`,
};

describe('text writers write floats that read back bit-identical', () => {
  let directory: string;
  let duck: DuckDBInstance;
  let connection: DuckDBConnection;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'quiver-floats-'));
    duck = await DuckDBInstance.create(':memory:');
    connection = await duck.connect();
  });
  afterAll(async () => {
    connection.closeSync();
    duck.closeSync();
    await duckdbCsv.close();
    await rm(directory, { recursive: true, force: true });
  });

  /** Every way of reading `format`'s part back, each as the mismatches it finds. */
  async function readBack(format: 'csv' | 'jsonl', singles: number[], doubles: number[]): Promise<string[]> {
    const bytes = await encodeBatches(format, [floatsBatch(singles, doubles)]);
    const found: string[] = [];
    const storage = makeMemoryStorage({ [URI[format]]: bytes });
    for (const [label, reader] of READERS[format]) {
      const readSingles: unknown[] = [];
      const readDoubles: unknown[] = [];
      const part = { uri: URI[format], size: bytes.byteLength, range: { kind: 'whole' as const } };
      for await (const batch of reader.readPart(storage, part, { schema: SCHEMA })) {
        readSingles.push(...Array.from(batch.getChild('f32')!.toArray() as ArrayLike<number>));
        readDoubles.push(...Array.from(batch.getChild('f64')!.toArray() as ArrayLike<number>));
      }
      found.push(...mismatches(`${label} f32`, readSingles, singles));
      found.push(...mismatches(`${label} f64`, readDoubles, doubles));
    }
    const path = join(directory, `part.${format}`);
    await writeFile(path, bytes);
    const rows = (await connection.runAndReadAll(`SELECT f32, f64 FROM ${DUCKDB_SOURCE[format](path)}`))
      .getRowObjectsJS()
      .map((row) => row as { f32: unknown; f64: unknown });
    found.push(
      ...mismatches(
        `duckdb ${format} f32`,
        rows.map((row) => row.f32),
        singles,
      ),
    );
    found.push(
      ...mismatches(
        `duckdb ${format} f64`,
        rows.map((row) => row.f64),
        doubles,
      ),
    );
    return found;
  }

  /** Columns of any floats (NaN and ±Infinity included), the special values always among them. */
  const columns = fc
    .array(fc.tuple(fc.float(), fc.double()), { minLength: 1, maxLength: 300 })
    .map((pairs) => {
      const singles = [...SPECIAL_FLOAT32, ...pairs.map(([single]) => single)];
      const doubles = [...SPECIAL_FLOAT64, ...pairs.map(([, double]) => double)];
      // One row per pair: the shorter column is padded with the other's specials cycled.
      while (doubles.length < singles.length) doubles.push(SPECIAL_FLOAT64[doubles.length % 15]!);
      while (singles.length < doubles.length) singles.push(SPECIAL_FLOAT32[singles.length % 14]!);
      return { singles, doubles };
    });

  it.each(['csv', 'jsonl'] as const)('%s', async (format) => {
    await fc.assert(
      fc.asyncProperty(columns, async ({ singles, doubles }) => {
        expect(await readBack(format, singles, doubles)).toEqual([]);
      }),
      { numRuns: 40 },
    );
  });

  it('spells the values that need a rule explicitly', async () => {
    const text = new TextDecoder();
    const batch = floatsBatch([-0, NaN, Infinity, -Infinity, f32(1)], [-0, NaN, -Infinity, 5e-324, 1e21]);
    expect(text.decode(await encodeBatches('csv', [batch])).split('\n')).toEqual([
      'f32,f64',
      '-0.0,-0.0',
      'NaN,NaN',
      'Infinity,-Infinity',
      '-Infinity,5e-324',
      '1e-45,1e+21',
      '',
    ]);
    expect(text.decode(await encodeBatches('jsonl', [batch])).split('\n')).toEqual([
      '{"f32":-0.0,"f64":-0.0}',
      '{"f32":"NaN","f64":"NaN"}',
      '{"f32":"Infinity","f64":"-Infinity"}',
      '{"f32":"-Infinity","f64":5e-324}',
      '{"f32":1e-45,"f64":1e+21}',
      '',
    ]);
  });
});
