import { createHash } from 'node:crypto';
import {
  Field,
  Float32,
  Int64,
  RecordBatch,
  Schema,
  TimeUnit,
  tableFromIPC,
  vectorFromArray,
} from 'apache-arrow';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { quoteCsvField } from '../../../services/formats/writers/csv-writer.js';
import {
  formatFloat32,
  formatTimestamp,
  JSON_DIALECT,
} from '../../../services/formats/writers/jsonl-writer.js';
import { encodeBatches, makeWriter } from '../../../services/formats/writers/make-writer.js';
import {
  allTypesBatches,
  comparableRows,
  expectedRows,
  makeMemoryStorage,
} from '../../helpers/memory-storage-writers.js';

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

function scoresBatch(ids: bigint[], scores: number[]): RecordBatch {
  return new RecordBatch({
    id: vectorFromArray(ids, new Int64()).data[0]!,
    score: vectorFromArray(scores, new Float32()).data[0]!,
  });
}

describe('formatTimestamp', () => {
  it('writes every unit at full precision, Z only for zoned timestamps', () => {
    expect(formatTimestamp(0n, TimeUnit.SECOND, false)).toBe('1970-01-01T00:00:00');
    expect(formatTimestamp(1_700_000_000_123n, TimeUnit.MILLISECOND, false)).toBe('2023-11-14T22:13:20.123');
    expect(formatTimestamp(1_700_000_000_123_456n, TimeUnit.MICROSECOND, true)).toBe(
      '2023-11-14T22:13:20.123456Z',
    );
    expect(formatTimestamp(1_700_000_000_123_456_789n, TimeUnit.NANOSECOND, true)).toBe(
      '2023-11-14T22:13:20.123456789Z',
    );
  });

  it('rounds times before 1970 down to the earlier second', () => {
    expect(formatTimestamp(-1n, TimeUnit.MILLISECOND, false)).toBe('1969-12-31T23:59:59.999');
    expect(formatTimestamp(-1_500_000n, TimeUnit.MICROSECOND, true)).toBe('1969-12-31T23:59:58.500000Z');
  });
});

describe('formatFloat32', () => {
  it('writes the shortest text that reads back as the same float32', () => {
    expect(formatFloat32(Math.fround(0.1))).toBe('0.1');
    expect(formatFloat32(Math.fround(1e-7))).toBe('1e-7');
    expect(formatFloat32(-1.5)).toBe('-1.5');
    expect(formatFloat32(-0)).toBe('-0.0');
    expect(formatFloat32(Math.fround(3e38))).toBe('3e+38');
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (value) => {
        expect(Math.fround(Number(formatFloat32(value)))).toBe(value);
      }),
    );
  });
});

describe('text dialects', () => {
  it('quotes CSV fields per RFC 4180 and keeps the empty string apart from null', () => {
    expect(quoteCsvField('plain')).toBe('plain');
    expect(quoteCsvField('a,b')).toBe('"a,b"');
    expect(quoteCsvField('say "hi"')).toBe('"say ""hi"""');
    expect(quoteCsvField('two\nlines')).toBe('"two\nlines"');
    expect(quoteCsvField('cr\r')).toBe('"cr\r"');
    expect(quoteCsvField('')).toBe('""');
  });

  it('writes int64 as a JSON number only while it is exact as a double', () => {
    expect(JSON_DIALECT.bigint(9007199254740991n)).toBe('9007199254740991');
    expect(JSON_DIALECT.bigint(-9007199254740991n)).toBe('-9007199254740991');
    expect(JSON_DIALECT.bigint(9007199254740992n)).toBe('"9007199254740992"');
    expect(JSON_DIALECT.nonFinite(Number.NaN)).toBe('"NaN"');
  });
});

describe('arrow writer', () => {
  it('round-trips every type and null through an IPC file', async () => {
    const bytes = await encodeBatches('arrow', allTypesBatches());
    expect(text(bytes.subarray(0, 6))).toBe('ARROW1');
    const table = tableFromIPC(bytes);
    expect(table.schema.fields.map((field) => String(field.type))).toEqual(
      allTypesBatches()[0]!.schema.fields.map((field) => String(field.type)),
    );
    expect(comparableRows(table.batches)).toEqual(expectedRows());
  });
});

describe('jsonl writer', () => {
  it('writes one object per row with nulls, ISO timestamps and exact int64', async () => {
    const lines = text(await encodeBatches('jsonl', allTypesBatches())).split('\n');
    expect(lines.pop()).toBe('');
    const rows = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(rows).toHaveLength(7);
    expect(rows[0]).toEqual({
      id: 0,
      i32: 1,
      score: 0.1,
      f64: 0.1,
      flag: true,
      name: 'plain',
      ts_ms: '1970-01-01T00:00:00.000',
      ts_us_utc: '2023-11-14T22:13:20.123456Z',
      embedding: [0.5, 1.25],
      vec3: [1, 2, 3],
      nothing: null,
    });
    expect(rows.map((row) => row['id'])).toEqual([
      0,
      1,
      -5,
      '1152921504606846983',
      '-1152921504606846983',
      null,
      9007199254740991,
    ]);
    expect(rows[1]!['name']).toBe('comma, quote " and\nnewline');
    expect(rows[2]).toMatchObject({ i32: null, score: null, f64: '-Infinity', name: '', embedding: null });
    expect(rows[3]!['embedding']).toEqual([null, 2]);
    expect(rows[5]!['score']).toBe('NaN');
  });
});

describe('csv writer', () => {
  it('writes a header, RFC 4180 quoting and empty nulls', async () => {
    const schema = new Schema([new Field('id', new Int64(), true), new Field('score', new Float32(), true)]);
    const batch = scoresBatch([1n, 2n], [0.25, 0.1]);
    expect(text(await encodeBatches('csv', [batch], { schema }))).toBe('id,score\n1,0.25\n2,0.1\n');
    const csv = text(await encodeBatches('csv', allTypesBatches()));
    const lines = csv.split('\n');
    expect(lines[0]).toBe('id,i32,score,f64,flag,name,ts_ms,ts_us_utc,embedding,vec3,nothing');
    expect(lines[1]).toBe(
      '0,1,0.1,0.1,true,plain,1970-01-01T00:00:00.000,2023-11-14T22:13:20.123456Z,"[0.5,1.25]","[1,2,3]",',
    );
    expect(csv).toContain('"comma, quote "" and\nnewline"');
    expect(csv).toContain('-5,,,-Infinity,,"",1969-12-31T23:59:59.999,1969-12-31T23:59:58.500000Z,,,\n');
    expect(csv).toContain('\n,0,NaN,1e+300,');
  });
});

describe('makeWriter', () => {
  it('writes one object with its content type and reports rows and bytes', async () => {
    const storage = makeMemoryStorage();
    const writer = makeWriter('parquet');
    expect(writer.extension).toBe('.parquet');
    const written = await writer.write(storage, 'mem://out/part-00000.parquet', allTypesBatches());
    const bytes = storage.objects.get('mem://out/part-00000.parquet')!;
    expect(written).toEqual({
      uri: 'mem://out/part-00000.parquet',
      rows: 7,
      bytes: bytes.byteLength,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    });
    expect(text(bytes.subarray(0, 4))).toBe('PAR1');
    expect(storage.contentTypes.get('mem://out/part-00000.parquet')).toBe('application/vnd.apache.parquet');
  });

  it('writes an empty part with the right columns when every row was rejected', async () => {
    const schema = allTypesBatches()[0]!.schema;
    for (const format of ['parquet', 'arrow', 'csv', 'jsonl'] as const) {
      const bytes = await encodeBatches(format, [], { schema });
      // JSON Lines has no header, so no rows is no bytes.
      expect(bytes.byteLength > 0, format).toBe(format !== 'jsonl');
    }
    expect(tableFromIPC(await encodeBatches('arrow', [], { schema })).schema.fields).toHaveLength(11);
    expect(text(await encodeBatches('csv', [], { schema }))).toBe(
      'id,i32,score,f64,flag,name,ts_ms,ts_us_utc,embedding,vec3,nothing\n',
    );
  });

  it('refuses batches without a schema or with different schemas', async () => {
    await expect(encodeBatches('csv', [])).rejects.toThrow(TypeError);
    const other = new RecordBatch({ id: vectorFromArray([1n], new Int64()).data[0]! });
    await expect(encodeBatches('arrow', [scoresBatch([1n], [0.5]), other])).rejects.toThrow(/batch 1/);
  });

  it('does not write when aborted', async () => {
    const storage = makeMemoryStorage();
    const controller = new AbortController();
    controller.abort();
    await expect(
      makeWriter('csv').write(storage, 'mem://x.csv', [scoresBatch([1n], [0.5])], {
        signal: controller.signal,
      }),
    ).rejects.toThrow();
    expect(storage.objects.size).toBe(0);
  });
});
