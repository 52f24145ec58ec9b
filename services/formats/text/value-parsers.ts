/**
 * Values of text cells (CSV fields, JSON strings) parsed to the numbers, booleans and instants their column
 * types hold: general parsers for any text, and in-place fast paths for the numeric CSV cells that dominate
 * reading cost.
 */

const TIMESTAMP_TEXT =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
// Date.UTC maps years 0–99 to 1900–1999; 400 Gregorian years later the calendar repeats exactly.
const FOUR_CENTURIES_MS = 146_097 * 86_400_000;

/** Milliseconds since the epoch (UTC) of an ISO 8601 date or date-time, or undefined when it is not one. */
export function parseTimestamp(text: string): number | undefined {
  const m = TIMESTAMP_TEXT.exec(text);
  if (m === null) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = m[4] === undefined ? 0 : Number(m[4]);
  const minute = m[5] === undefined ? 0 : Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const millis = m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000);
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const monthDays = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1];
  if (monthDays === undefined || day < 1 || day > monthDays || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone !== undefined && zone !== 'Z' && zone !== 'z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    offsetMinutes = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0'));
  }
  const shift = year < 100 ? 400 : 0;
  const ms =
    Date.UTC(year + shift, month - 1, day, hour, minute, second, millis) - (shift ? FOUR_CENTURIES_MS : 0);
  return ms - offsetMinutes * 60_000;
}

/** A number from text, or undefined. Accepts what `Number` does plus nan/inf spellings; not blank text. */
export function parseNumber(text: string): number | undefined {
  const n = Number(text);
  if (n === n && (n !== 0 || /\d/.test(text))) return n;
  const lower = text.trim().toLowerCase();
  if (lower === 'nan' || lower === '+nan' || lower === '-nan') return NaN;
  if (lower === 'inf' || lower === '+inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  return undefined;
}

/** A boolean from text: true/false, t/f or 1/0, any case; else undefined. */
export function parseBool(text: string): boolean | undefined {
  switch (text.trim().toLowerCase()) {
    case 'true':
    case 't':
    case '1':
      return true;
    case 'false':
    case 'f':
    case '0':
      return false;
    default:
      return undefined;
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const BIG_INT_TEXT = /^\s*[+-]?\d+\s*$/;

/** A 64-bit integer from text, or undefined; beyond 2^53 it is parsed exactly as a bigint. */
export function parseInt64(text: string): bigint | undefined {
  const n = Number(text);
  if (Number.isSafeInteger(n) && (n !== 0 || /\d/.test(text))) return BigInt(n);
  if (!BIG_INT_TEXT.test(text)) return undefined;
  const big = BigInt(text.trim());
  return big < INT64_MIN || big > INT64_MAX ? undefined : big;
}

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * Stores the decimal number in `text[a, b)` at `out[index]` on the fast path; false when the text needs the
 * general parser. With at most 15 digits and a power of ten up to 22, mantissa and power are exact doubles
 * and one IEEE division or multiplication rounds correctly (Clinger's fast path), so the value equals
 * `Number(text)`. It reads the characters in place, with no substring per cell (most of the cost of a numeric
 * CSV), and stores rather than returns the double so that none is boxed on the heap.
 */
export function storeDecimalAt(
  text: string,
  a: number,
  b: number,
  out: Float64Array,
  index: number,
): boolean {
  let i = a;
  let c = text.charCodeAt(i);
  const negative = c === 45;
  if (negative || c === 43) c = text.charCodeAt(++i);
  let mantissa = 0;
  let digits = 0;
  let scale = 0;
  while (i < b && c >= 48 && c <= 57) {
    mantissa = mantissa * 10 + (c - 48);
    digits++;
    c = text.charCodeAt(++i);
  }
  if (i < b && c === 46) {
    c = text.charCodeAt(++i);
    while (i < b && c >= 48 && c <= 57) {
      mantissa = mantissa * 10 + (c - 48);
      digits++;
      scale++;
      c = text.charCodeAt(++i);
    }
  }
  if (digits === 0 || digits > 15) return false;
  let exponent = 0;
  if (i < b && (c | 32) === 101) {
    c = text.charCodeAt(++i);
    const negativeExponent = c === 45;
    if (negativeExponent || c === 43) c = text.charCodeAt(++i);
    const expStart = i;
    while (i < b && c >= 48 && c <= 57 && i - expStart < 4) {
      exponent = exponent * 10 + (c - 48);
      c = text.charCodeAt(++i);
    }
    if (i === expStart) return false;
    if (negativeExponent) exponent = -exponent;
  }
  if (i !== b) return false;
  const power = exponent - scale;
  let value: number;
  if (power >= 0) {
    if (power > 22) return false;
    value = mantissa * POW10[power]!;
  } else {
    if (power < -22) return false;
    value = mantissa / POW10[-power]!;
  }
  out[index] = negative ? -value : value;
  return true;
}

/** An integer of at most 15 digits in `text[a, b)`, or NaN when it needs the general parser. */
export function parseSmallIntAt(text: string, a: number, b: number): number {
  let i = a;
  let c = text.charCodeAt(i);
  const negative = c === 45;
  if (negative || c === 43) c = text.charCodeAt(++i);
  if (i === b || b - i > 15) return NaN;
  let value = 0;
  for (; i < b; c = text.charCodeAt(++i)) {
    if (c < 48 || c > 57) return NaN;
    value = value * 10 + (c - 48);
  }
  return negative ? -value : value;
}
