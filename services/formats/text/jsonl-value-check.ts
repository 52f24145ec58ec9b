/**
 * Finds, in JSONL bytes as they are staged for DuckDB, anything DuckDB's `read_json` would read otherwise
 * than the exact reader (jsonl-reader.ts: `JSON.parse` per line, then the column's conversion). Measured on
 * DuckDB 1.5 (see README, Formats): it coerces a boolean or text into a number column (`true` → 1, `"1.5"`
 * → 1.5), reads a line that is `null` as a row of nulls, accepts `NaN`/`Infinity` literals and trailing
 * commas (both invalid JSON), and reads the integer `-0` as +0. It refuses what the exact reader refuses
 * (malformed JSON, bytes that are not UTF-8, non-object lines, duplicate keys) and a few things it accepts
 * (lone surrogates), so those fall back anyway. (Text columns are checked in SQL instead: see
 * jsonl-duckdb-reader.ts.)
 *
 * Lines go first through a WebAssembly SIMD kernel (kernels/jsonl-lines.wat), which passes flat objects of
 * numbers and nulls sixteen bytes at a time (0.46–0.49 against the scalar check's 1.61–1.67 ns a byte over
 * the bench's file; see README, Formats); the lines of a sixteen-byte group it does not pass — a string or
 * boolean value, odd spacing — go through the scalar check below, which decides. The scalar check is one
 * pass with its state carried across blocks. Numbers cost a digit test a byte; strings are skipped with
 * `indexOf`; only a value that is text, a boolean, an object or an array has its key looked up, since only
 * those can read otherwise in a number column. The check is conservative: a hit sends the part to the
 * exact parser; it never changes a value.
 */
import { type KernelMemory, instantiateKernel } from '../../../jobs/wasm-kernel.js';
import { wasmBase64 } from './kernels/jsonl-lines-wasm.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const LF = 0x0a;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const MINUS = 0x2d;
const ZERO = 0x30;

export interface JsonlValueCheck {
  /** Checks the next staged bytes (in order; blocks may split any token). */
  feed(bytes: Uint8Array): void;
  /** Whether anything so far may read otherwise in DuckDB. */
  readonly suspicious: boolean;
}

/** Token states outside strings. */
const enum Token {
  None,
  Number,
  /** A number token that is `-` or `-0` so far: the integer -0 reads as +0 in DuckDB. */
  Minus,
  MinusZero,
  Word,
}

/** What a byte outside strings is, for the scan's dispatch. */
const enum Class {
  Other,
  Space,
  Newline,
  Digit,
  Minus,
  Quote,
  Colon,
  Open,
  Close,
  Letter,
}
const CLASS = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  CLASS[b] =
    b === 0x20 || b === 0x09 || b === 0x0d
      ? Class.Space
      : b === LF
        ? Class.Newline
        : b >= 0x30 && b <= 0x39
          ? Class.Digit
          : b === MINUS
            ? Class.Minus
            : b === QUOTE
              ? Class.Quote
              : b === COLON
                ? Class.Colon
                : b === OPEN_BRACE || b === OPEN_BRACKET
                  ? Class.Open
                  : b === CLOSE_BRACE || b === CLOSE_BRACKET
                    ? Class.Close
                    : (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7a
                      ? Class.Letter
                      : Class.Other;
}

/** Bytes that may continue a number token: digits, `.`, `e`/`E`, `+`, `-`. */
const NUMBER_BYTE = new Uint8Array(256);
for (const ch of '0123456789.eE+-') NUMBER_BYTE[ch.charCodeAt(0)] = 1;
const isLetter = (b: number): boolean => (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7a;

// A bare word's bytes packed in a number (≤ 5 letters of 7 bits: exact in a double), case kept.
const pack = (text: string): number => [...text].reduce((n, ch) => n * 128 + ch.charCodeAt(0), 0);
const TRUE = pack('true');
const FALSE = pack('false');
const NULL = pack('null');

/** The scan's state between blocks (copied into locals for the loop, where V8 keeps them in registers). */
interface ScanState {
  suspicious: boolean;
  inString: boolean;
  escape: boolean;
  /** At a line's start, before its first significant byte (which must be `{`). */
  lineStart: boolean;
  /** The last significant byte outside strings. */
  last: number;
  /** The last complete string (a key, if a `:` follows) held an escape. */
  escaped: boolean;
  /** Bytes of the last string, when it began in an earlier block; else the key is read in place. */
  carry: number[] | undefined;
  /** Whether the last significant thing was a complete string. */
  afterString: boolean;
  awaitingValue: boolean;
  /** The key of the value being read, when it began in an earlier block (bytes), for a lookup. */
  key: Uint8Array | undefined;
  token: Token;
  word: number;
  wordLength: number;
  /** The number columns' names, encoded. */
  readonly names: readonly Uint8Array[];
}

/** Whether the key `key[start, end)` is one of the number columns. */
function isNumberColumn(names: readonly Uint8Array[], key: Uint8Array, start: number, end: number): boolean {
  return names.some((name) => {
    if (name.length !== end - start) return false;
    for (let j = 0; j < name.length; j++) if (name[j] !== key[start + j]) return false;
    return true;
  });
}

/** Whether the key of the value being read (`bytes[keyStart, keyEnd)`, or `state.key`) is a number column. */
function keyIsNumberColumn(state: ScanState, bytes: Uint8Array, keyStart: number, keyEnd: number): boolean {
  if (keyStart >= 0) return isNumberColumn(state.names, bytes, keyStart, keyEnd);
  return state.key !== undefined && isNumberColumn(state.names, state.key, 0, state.key.length);
}

/**
 * Scans one block (one function for every check, so V8 optimises it once per process, not once per part).
 */
function scanBlock(state: ScanState, bytes: Uint8Array): void {
  const n = bytes.length;
  let { inString, escape, lineStart, last, escaped, afterString, awaitingValue, token, word, wordLength } =
    state;
  let suspicious = false;
  /** Where the last string lies in this block; -1: it began in an earlier block (see `carry`). */
  let stringStart = -1;
  let stringEnd = -1;
  /** The key of the value being read, as `[keyStart, keyEnd)` of this block, or `state.key`. */
  let keyStart = -1;
  let keyEnd = -1;
  let i = 0;
  scan: while (i < n) {
    if (inString) {
      // To the closing quote, honouring escapes; a key with an escape is no column's (names are plain).
      while (i < n) {
        const c = bytes[i]!;
        if (escape) escape = false;
        else if (c === BACKSLASH) escape = escaped = true;
        else if (c === QUOTE) break;
        i++;
      }
      if (i >= n) break;
      inString = false;
      stringEnd = i;
      if (stringStart < 0 && state.carry !== undefined)
        for (let j = 0; j < i; j++) state.carry.push(bytes[j]!);
      afterString = true;
      last = QUOTE;
      i++;
      continue;
    }
    if (token === Token.Number) {
      // Digits by arithmetic, a number's other bytes by table: 1.6 → 1.3 ns a byte measured.
      while (i < n) {
        const c = bytes[i]!;
        if ((c - ZERO) >>> 0 < 10 || NUMBER_BYTE[c] === 1) i++;
        else break;
      }
      if (i === n) break;
      token = Token.None;
      // The common case of a tabular line, `,"key":<number>` (or `, "key": <number>`), in one step: a
      // number needs no key lookup, so the key is only skipped. Anything else takes the general path.
      if (bytes[i] === COMMA) {
        let j = bytes[i + 1] === 0x20 ? i + 2 : i + 1;
        if (bytes[j] === QUOTE) {
          j++;
          while (j < n && bytes[j] !== QUOTE && bytes[j] !== BACKSLASH) j++;
          if (bytes[j] === QUOTE && bytes[j + 1] === COLON) {
            j = bytes[j + 2] === 0x20 ? j + 3 : j + 2;
            const v = bytes[j];
            if (v !== undefined && ((v >= 0x31 && v <= 0x39) || (v === ZERO && j + 1 < n))) {
              token = Token.Number;
              last = v;
              i = j + 1;
              continue;
            }
          }
        }
      }
    } else if (token === Token.Minus || token === Token.MinusZero) {
      // `-` then `0` then nothing more of a number: the integer -0.
      const b = bytes[i]!;
      if (token === Token.Minus && b >= 0x30 && b <= 0x39)
        token = b === ZERO ? Token.MinusZero : Token.Number;
      else if (token === Token.MinusZero && NUMBER_BYTE[b] === 1) token = Token.Number;
      else {
        suspicious = true; // the integer -0, or `-` before something not a digit (`-Infinity`)
        break;
      }
      i++;
      continue;
    } else if (token === Token.Word) {
      while (i < n && isLetter(bytes[i]!)) {
        word = word * 128 + bytes[i]!;
        i++;
        if (++wordLength > 5) {
          suspicious = true;
          break scan;
        }
      }
      if (i === n) break;
      // Only true, false and null are JSON words; DuckDB coerces a boolean into a number column.
      if (
        (word !== TRUE && word !== FALSE && word !== NULL) ||
        (word !== NULL && keyIsNumberColumn(state, bytes, keyStart, keyEnd))
      ) {
        suspicious = true;
        break;
      }
      token = Token.None;
    }
    const b = bytes[i]!;
    i++;
    const kind = CLASS[b]! as Class;
    if (kind === Class.Space) continue;
    if (kind === Class.Newline) {
      if (awaitingValue) {
        suspicious = true;
        break;
      }
      lineStart = true;
      afterString = false;
      last = LF;
      continue;
    }
    // `null` is a row of nulls to DuckDB; arrays and scalars are refused by both, but say so early.
    if (lineStart) {
      lineStart = false;
      if (b !== OPEN_BRACE) {
        suspicious = true;
        break;
      }
    }
    switch (kind) {
      case Class.Digit:
        token = Token.Number;
        break;
      case Class.Minus:
        token = Token.Minus;
        break;
      case Class.Quote:
        // Text where a number column is read: DuckDB casts it, the exact reader converts it (differently).
        if (awaitingValue && keyIsNumberColumn(state, bytes, keyStart, keyEnd)) {
          suspicious = true;
          break scan;
        }
        inString = true;
        stringStart = i;
        escaped = false;
        if (state.carry !== undefined) state.carry = undefined;
        break;
      case Class.Colon:
        // The key is looked up only if its value turns out not to be a number.
        if (!afterString || escaped) {
          keyStart = -1;
          state.key = undefined;
        } else if (stringStart >= 0) {
          keyStart = stringStart;
          keyEnd = stringEnd;
        } else {
          keyStart = -1;
          state.key = Uint8Array.from(state.carry ?? []);
        }
        if (state.carry !== undefined) state.carry = undefined;
        awaitingValue = true;
        afterString = false;
        last = b;
        continue;
      case Class.Open:
        if (awaitingValue && keyIsNumberColumn(state, bytes, keyStart, keyEnd)) {
          suspicious = true;
          break scan;
        }
        break;
      case Class.Close:
        if (last === COMMA) {
          suspicious = true; // a trailing comma
          break scan;
        }
        break;
      case Class.Letter:
        token = Token.Word;
        word = b;
        wordLength = 1;
        break;
      default:
        break;
    }
    awaitingValue = false;
    afterString = false;
    last = b;
  }
  // What the next block needs of this one: an open string's bytes, a key awaiting its colon or value.
  if (inString) {
    state.carry ??= [];
    for (let j = Math.max(0, stringStart); j < n; j++) state.carry.push(bytes[j]!);
  } else if (afterString && stringStart >= 0) {
    state.carry = Array.from(bytes.subarray(stringStart, stringEnd));
  }
  if (keyStart >= 0 && (awaitingValue || token === Token.Word)) state.key = bytes.slice(keyStart, keyEnd);
  Object.assign(state, { inString, escape, lineStart, last, escaped, afterString, awaitingValue });
  Object.assign(state, { token, word, wordLength, suspicious });
}

/** The kernel (jsonl-lines.wat): `check(from, len)` over the window `memory[KERNEL_DATA, + len)`, padded. */
interface LinesKernel {
  memory: KernelMemory;
  check(from: number, len: number): number;
}
/** The kernel and its memory as bytes, grown once to hold a window and its padding. */
interface KernelWithMemory {
  lines: LinesKernel;
  memory: Uint8Array;
}
let linesKernel: KernelWithMemory | null | undefined;
/** Where the window goes in the kernel's memory (its constants come first). */
const KERNEL_DATA = 256;
/** Bytes of whole lines the kernel reads at most per window (copied into its memory: L2-sized). */
const KERNEL_WINDOW = 256 * 1024;
function kernel(): KernelWithMemory | null {
  if (linesKernel === undefined) {
    const lines = instantiateKernel<LinesKernel>(wasmBase64);
    if (lines !== null) {
      const pages =
        Math.ceil((KERNEL_DATA + KERNEL_WINDOW + 16) / 65536) - lines.memory.buffer.byteLength / 65536;
      if (pages > 0) lines.memory.grow(pages);
    }
    linesKernel = lines && { lines, memory: new Uint8Array(lines.memory.buffer) };
  }
  return linesKernel;
}

/** Whether the scalar check stands at a line's start with nothing open (where the kernel may take over). */
const atLineStart = (state: ScanState): boolean =>
  state.lineStart && !state.inString && state.token === Token.None && !state.awaitingValue;

/**
 * Checks a block: whole lines through the kernel where the scalar check stands at a line's start, the
 * lines of any group the kernel does not pass, and the rest of a line begun or ended in another block,
 * through the scalar check. Each window of lines is copied into the kernel's memory once, however many
 * of its lines go to the scalar check (a text value on every line would otherwise copy a window a line).
 */
function checkBlock(state: ScanState, bytes: Uint8Array, { lines, memory }: KernelWithMemory): void {
  const n = bytes.length;
  /** `bytes[windowStart, windowEnd)` is in the kernel's memory. */
  let windowStart = 0;
  let windowEnd = 0;
  /** Bytes past a flagged group the scalar check reads on (see below). */
  let scalarRun = 0;
  let pos = 0;
  while (pos < n && !state.suspicious) {
    let to: number;
    if (!atLineStart(state)) {
      const lf = bytes.indexOf(LF, pos);
      to = lf < 0 ? n : lf + 1;
    } else {
      if (pos >= windowEnd) {
        const lf = bytes.lastIndexOf(LF, Math.min(n, pos + KERNEL_WINDOW) - 1);
        if (lf >= pos) {
          windowStart = pos;
          windowEnd = lf + 1;
          memory.set(bytes.subarray(windowStart, windowEnd), KERNEL_DATA);
          memory.fill(
            OPEN_BRACE,
            KERNEL_DATA + windowEnd - windowStart,
            KERNEL_DATA + windowEnd - windowStart + 16,
          );
        }
      }
      if (pos >= windowEnd) {
        // No whole line within a window: the scalar check reads this one.
        const next = bytes.indexOf(LF, pos + KERNEL_WINDOW);
        to = next < 0 ? n : next + 1;
      } else {
        const flagged = windowStart + lines.check(pos - windowStart, windowEnd - windowStart);
        if (flagged >= windowEnd) {
          pos = windowEnd;
          continue;
        }
        // The lines of the group flagged go to the scalar check; those before it passed. When the kernel
        // passed none (text on every line), the scalar check's stretch doubles, so such lines cost it few
        // calls.
        // (lastIndexOf takes a negative index from the end: a group at `pos` needs none.)
        const lineStart = flagged > pos ? Math.max(pos, bytes.lastIndexOf(LF, flagged - 1) + 1) : pos;
        scalarRun = lineStart === pos ? Math.min(2 * scalarRun + 1024, KERNEL_WINDOW) : 0;
        to = bytes.indexOf(LF, Math.min(flagged + 15 + scalarRun, windowEnd - 1)) + 1;
        pos = lineStart;
      }
    }
    scanBlock(state, bytes.subarray(pos, to));
    pos = to;
  }
}

export interface JsonlValueCheckOptions {
  /** Whether lines go through the SIMD kernel first (default true; false: the scalar check alone). */
  kernel?: boolean;
}

/**
 * A check over the number columns DuckDB reads (by name): their values must be numbers or null for DuckDB
 * to read them as the exact reader does. Anything else in the bytes is checked wherever it is.
 */
export function makeJsonlValueCheck(
  numberColumns: Iterable<string>,
  options: JsonlValueCheckOptions = {},
): JsonlValueCheck {
  const lines = options.kernel === false ? null : kernel();
  const encoder = new TextEncoder();
  const state: ScanState = {
    suspicious: false,
    inString: false,
    escape: false,
    lineStart: true,
    last: LF,
    escaped: false,
    carry: undefined,
    afterString: false,
    awaitingValue: false,
    key: undefined,
    token: Token.None,
    word: 0,
    wordLength: 0,
    names: [...numberColumns].map((name) => encoder.encode(name)),
  };
  return {
    feed(bytes) {
      if (state.suspicious) return;
      if (lines !== null) checkBlock(state, bytes, lines);
      else scanBlock(state, bytes);
    },
    get suspicious() {
      return state.suspicious;
    },
  };
}
