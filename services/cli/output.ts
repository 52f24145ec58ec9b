import type { JobError } from '../../schemas/job-record.js';

/** Where the CLI writes: `process.stdout`/`process.stderr`, or a fake in tests. */
export interface OutputStream {
  write(text: string): unknown;
  /** True on a terminal: progress is redrawn in place rather than printed line by line. */
  isTTY?: boolean;
}

/** One JSON document per line, for machines (`--json`). */
export function writeJson(stream: OutputStream, value: unknown): void {
  stream.write(`${JSON.stringify(value)}\n`);
}

/** `1234567` → `1,234,567`, whatever the locale (scripts and tests read it). */
export function formatCount(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Three significant figures at most, with a k/M/G suffix: `812`, `12.3k`, `1.25M`. */
function compact(n: number): string {
  const units: Array<[number, string]> = [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [size, suffix] of units) {
    // Rounding can carry into the next unit (999,950 → "1000k"): go up a unit when it does.
    if (n >= size * 0.9995) return `${Number((n / size).toPrecision(3))}${suffix}`;
  }
  return String(Math.round(n));
}

/** Rows per second for people: `0 rows/s`, `812 rows/s`, `12.3k rows/s`, `1.25M rows/s`. */
export function formatRate(rowsPerSecond: number): string {
  return `${compact(Math.max(0, rowsPerSecond))} rows/s`;
}

/** A duration for people: `--` when unknown, `45s`, `3m05s`, `2h03m`. Rounded up to whole seconds. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '--';
  const total = Math.ceil(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}

/** Bytes for people: `512 B`, `1.5 KiB`, `3.25 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${Number(value.toPrecision(3))} ${units[unit]}`;
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].map((l) => `${l}\n`).join('');
}

/** `CODE: message (object …, row n, chunk c)`: a job's error with where it happened. */
export function describeJobError(error: JobError): string {
  const where = [
    // Errors from the readers already name their object in the message.
    error.uri === undefined || error.message.includes(error.uri) ? undefined : `object ${error.uri}`,
    error.row === undefined ? undefined : `row ${error.row}`,
    error.chunk === undefined ? undefined : `chunk ${error.chunk}`,
  ].filter((part) => part !== undefined);
  const message = error.message.startsWith(`${error.code}:`)
    ? error.message
    : `${error.code}: ${error.message}`;
  return where.length > 0 ? `${message} (${where.join(', ')})` : message;
}

/** Seconds between two ISO timestamps; undefined when either is missing. */
export function secondsBetween(from: string | undefined, to: string | undefined): number | undefined {
  if (from === undefined || to === undefined) return undefined;
  return Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000);
}
