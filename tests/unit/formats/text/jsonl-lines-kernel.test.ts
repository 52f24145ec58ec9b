/**
 * The JSONL value check's SIMD kernel (kernels/jsonl-lines.wat): it passes flat lines of numbers and nulls
 * in either spacing, stops at the group holding each kind of line it must not pass, and, in front of the
 * scalar check, never changes the check's verdict: on random valid JSON lines and the non-JSON forms DuckDB
 * reads (NaN, Infinity, trailing commas, `null` lines), split into random blocks, the check with the kernel
 * says what the scalar check alone says. And the DuckDB reader, whose lines now mostly pass through the
 * kernel alone, reads such lines — and lines with bytes after the object, which only DuckDB's refusal
 * guards — as the exact reader does.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { instantiateKernel, type KernelMemory } from '../../../../jobs/wasm-kernel.js';
import { wasmBase64 } from '../../../../services/formats/text/kernels/jsonl-lines-wasm.js';
import { makeJsonlDuckdbReader } from '../../../../services/formats/text/jsonl-duckdb-reader.js';
import { makeJsonlReader } from '../../../../services/formats/text/jsonl-reader.js';
import { makeJsonlValueCheck } from '../../../../services/formats/text/jsonl-value-check.js';
import { makeMemoryStorage } from '../../../helpers/memory-storage.js';
import { readOutcome } from '../../../helpers/text-reading.js';

const encoder = new TextEncoder();
const kernel = instantiateKernel<{ memory: KernelMemory; check(from: number, len: number): number }>(
  wasmBase64,
)!;
kernel.memory.grow(4);

/** The kernel over whole lines from `from` (the caller's padding included): the group it stops at. */
function kernelStop(text: string, from = 0): number {
  const bytes = encoder.encode(text);
  const memory = new Uint8Array(kernel.memory.buffer);
  memory.set(bytes, 256);
  memory.fill(0x7b, 256 + bytes.length, 256 + bytes.length + 16);
  return kernel.check(from, bytes.length);
}

const clean = Array.from({ length: 40 }, (_, i) =>
  i % 2 === 0
    ? JSON.stringify({ id: i, f: i / 7 - 2, g: -i * 1e-7, h: null, k: 0 })
    : `{"id": ${i}, "f": -0.${i}5, "g": -0e-1, "h": null, "k": 1E+3}`,
).join('\n');

describe('the JSONL lines kernel', () => {
  it('passes flat lines of numbers and nulls, compact or with spaces', () => {
    const text = `${clean}\n`;
    expect(kernelStop(text)).toBeGreaterThanOrEqual(encoder.encode(text).length);
  });

  it('resumes at a line start within the window, past a line it stopped at', () => {
    const before = `${clean}\n{"n":true}\n`;
    const text = `${before}${clean}\n`;
    const length = encoder.encode(text).length;
    expect(kernelStop(text)).toBeLessThan(encoder.encode(before).length);
    expect(kernelStop(text, encoder.encode(before).length)).toBeGreaterThanOrEqual(length);
    // From a line start that is not a group's (the window's groups are counted from `from`).
    expect(kernelStop(text, encoder.encode(before).length - 1)).toBeLessThan(length);
  });

  it.each([
    ['a boolean value', '{"n":true}'],
    ['a boolean after a space', '{"n": false}'],
    ['a text value', '{"n":"1.5"}'],
    ['NaN', '{"n":NaN}'],
    ['nan', '{"n": nan}'],
    ['inf', '{"n":inf}'],
    ['-Infinity', '{"n":-Infinity}'],
    ['a trailing comma', '{"n":1,}'],
    ['a trailing comma after a space', '{"n":1, }'],
    ['the integer -0', '{"a":1,"n":-0}'],
    ['the integer -0 after a space', '{"n": -0, "a": 1}'],
    ['-0 at the line end', '{"n":-0\n{"a":1}'],
    ['an object value', '{"n":{"a":1}}'],
    ['an array value', '{"n":[1,2]}'],
    ['a null line', 'null'],
    ['a line led by a space', ' {"n":1}'],
    ['a blank line', ''],
    ['a value on the next line', '{"n":\n1}'],
    ['two spaces after a colon', '{"n":  1}'],
    ['a tab after a colon', '{"n":\t1}'],
    ['a word that starts like null', '{"n":nul}'],
    ['a word that starts like null, further on', '{"n":nulx}'],
    ['a word that ends like null', '{"n":nxll}'],
  ])('stops at %s', (_name, line) => {
    const before = `${clean}\n`;
    const start = encoder.encode(before).length;
    const end = start + encoder.encode(line).length;
    const stop = kernelStop(`${before}${line}\n${clean}\n`);
    // The group it stops at holds a byte of the line or its line feed (or the byte after, for a rule on
    // what follows it).
    expect(stop).toBeGreaterThan(start - 16);
    expect(stop).toBeLessThanOrEqual(end + 1);
    // And the scalar check agrees that the line is not for DuckDB.
    const scalar = makeJsonlValueCheck(['n', 'a'], { kernel: false });
    scalar.feed(encoder.encode(`${line}\n`));
    if (line !== '' && !line.startsWith(' ') && !line.includes('  ') && !line.includes('\t'))
      expect(scalar.suspicious).toBe(true);
  });

  /** Keys: the read columns, others, and keys holding the bytes the kernel's rules look at. */
  const key = fc.constantFrom('n', 'a', 'other', 'nu', 'x:y', 'x,y', 'm-0', 'l\\"n', 'é', '-', ', ');
  const number = fc.oneof(
    fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
    fc.integer({ min: -1000, max: 1000 }).map(String),
    fc.constantFrom('-0', '-0.0', '-0e1', '-0E+2', '0', '-12', '1e-05', '1E400', '-1e-0', 'null'),
  );
  const value: fc.Arbitrary<string> = fc.oneof(
    { weight: 6, arbitrary: number },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)) },
    // What DuckDB reads though it is not JSON.
    { weight: 1, arbitrary: fc.constantFrom('NaN', 'nan', '-Infinity', 'inf', '[1,]', '{"a":1,}') },
  );
  const space = fc.constantFrom('', '', '', ' ', '  ');
  const line = fc.oneof(
    {
      weight: 12,
      arbitrary: fc
        .tuple(
          fc.array(fc.tuple(key, space, space, value), { maxLength: 6 }),
          fc.boolean(),
          fc.constantFrom('', ' '),
        )
        .map(
          ([fields, trailing, lead]) =>
            `${lead}{${fields.map(([k, s1, s2, v]) => `"${k}"${s1}:${s2}${v}`).join(', '.slice(0, 1 + (fields.length % 2)))}${trailing && fields.length > 0 ? ',' : ''}}`,
        ),
    },
    { weight: 1, arbitrary: fc.constantFrom('null', '', '[1]', '1') },
  );

  it('never changes the value check’s verdict, whatever the lines and blocks', () => {
    fc.assert(
      fc.property(
        fc.array(line, { minLength: 1, maxLength: 60 }),
        fc.constantFrom('\n', '\r\n'),
        fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 8 }),
        (lines, newline, blocks) => {
          const bytes = encoder.encode(lines.join(newline) + newline);
          const verdict = (kernelFirst: boolean): boolean => {
            const check = makeJsonlValueCheck(['n', 'a'], { kernel: kernelFirst });
            for (let at = 0, b = 0; at < bytes.length; b++) {
              const size = blocks[b % blocks.length]! * (b % 3 === 0 ? 40 : 1);
              check.feed(bytes.subarray(at, at + size));
              at += size;
            }
            return check.suspicious;
          };
          expect(verdict(true)).toBe(verdict(false));
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('the DuckDB JSONL reader on lines the kernel passes', () => {
  const duckdb = makeJsonlDuckdbReader({ minDuckdbBytes: 0 });
  const exact = makeJsonlReader();
  afterAll(() => duckdb.close());
  const URI = 'mem://bucket/lines.jsonl';
  /** A file's lines: numbers and nulls, and at a rate of the file's, values and bytes after the object. */
  const file = fc.constantFrom(0, 0, 0.02, 0.2).chain((noise) => {
    const odd = <T>(clean: fc.Arbitrary<T>, other: fc.Arbitrary<T>): fc.Arbitrary<T> =>
      fc
        .tuple(clean, other, fc.double({ min: 0, max: 1, noNaN: true }))
        .map(([c, o, p]) => (p < noise ? o : c));
    const field = fc.tuple(
      fc.constantFrom('n', 'a', 'other'),
      fc.constantFrom(':', ': '),
      odd(
        fc.oneof(
          { weight: 4, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map(String) },
          { weight: 1, arbitrary: fc.constantFrom('null', '-0.5', '-0e1', '1E400', '-12', '0', '-0.0') },
        ),
        fc.constantFrom('-0', '-0', '-0', 'NaN', 'nan', 'true', '"1"', '[1]'),
      ),
    );
    // Bytes after the object: the kernel does not look at them (DuckDB refuses them, as the exact reader does).
    const tail = odd(fc.constant(''), fc.constantFrom('x', 'null', ' {"n": 2}', '}', 'e5', ','));
    return fc.array(
      fc
        .tuple(fc.uniqueArray(field, { selector: ([k]) => k, maxLength: 3 }), tail)
        .map(([fields, after]) => `{${fields.map(([k, c, v]) => `"${k}"${c}${v}`).join(',')}}${after}`),
      { minLength: 1, maxLength: 30 },
    );
  });

  const read = async (text: string, skip: boolean) => {
    const bytes = encoder.encode(text);
    const storage = makeMemoryStorage({ [URI]: bytes });
    const part = {
      uri: URI,
      size: bytes.length,
      range: { kind: 'bytes' as const, start: 0, end: bytes.length },
    };
    const options = { schema: { n: 'float64' as const, a: 'float32' as const }, skip, columns: ['n', 'a'] };
    return {
      duckdb: await readOutcome(duckdb, storage, part, options),
      exact: await readOutcome(exact, storage, part, options),
    };
  };

  it.each([
    '{"n":-0}',
    '{"n": -0, "a": 1}',
    '{"n":NaN}',
    '{"n":nan}',
    '{"n":-Infinity}',
    '{"n":true}',
    '{"n":"1.5"}',
    '{"n":1,}',
    'null',
    '{"n":1}x',
    '{"n":1} {"n":2}',
  ])('reads %s among clean lines as the exact reader does', async (odd) => {
    const text = `{"n":1.5,"a":-2}\n${odd}\n{"n": null, "a": 0.25}\n`;
    for (const skip of [false, true]) {
      const { duckdb: actual, exact: expected } = await read(text, skip);
      expect(actual).toEqual(expected);
    }
  });

  it('reads them as the exact reader does, rows, errors and skipped records alike', async () => {
    await fc.assert(
      fc.asyncProperty(file, fc.boolean(), async (lines, skip) => {
        const { duckdb: actual, exact: expected } = await read(lines.join('\n') + '\n', skip);
        expect(actual).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  }, 120_000);
});
