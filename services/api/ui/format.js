/** Number, time, duration and size formats shared by every page. */

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

/** `12,345`; `–` for an absent value. */
export const count = (n) => (typeof n === 'number' ? integer.format(n) : '–');

/** `1,234.5`; `–` for an absent value. */
export const number = (n) => (typeof n === 'number' ? decimal.format(n) : '–');

/** `2h 05m`, `3m 07s`, `12s`, `0.4s`; `–` for an absent value. */
export function duration(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '–';
  if (seconds < 10) return `${decimal.format(seconds)}s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(rest).padStart(2, '0')}s`;
  return `${rest}s`;
}

/** `1.5 MB` (powers of 1000, as storage bills count). */
export function bytes(n) {
  if (typeof n !== 'number') return '–';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? integer.format(value) : decimal.format(value)} ${units[unit]}`;
}

const pad = (n) => String(n).padStart(2, '0');

/** `2026-05-01 14:03:22` in the browser's time zone; `–` for an absent value. */
export function time(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** `3m 05s ago`, `in 2h 10m`. */
export function relative(iso, now = Date.now()) {
  if (!iso) return '';
  const seconds = (new Date(iso).getTime() - now) / 1000;
  return seconds >= 0 ? `in ${duration(seconds)}` : `${duration(-seconds)} ago`;
}

/** Seconds between two timestamps, or from `from` to now while `to` is absent. */
export function elapsed(from, to) {
  if (!from) return undefined;
  return ((to ? new Date(to).getTime() : Date.now()) - new Date(from).getTime()) / 1000;
}

/** The first 8 characters of a job id: enough to tell jobs apart on a screen. */
export const shortId = (id) => id.slice(0, 8);

/** Job statuses that can still change. */
export const ACTIVE = new Set(['queued', 'planning', 'running', 'finalizing', 'cancelling']);

/**
 * A statistic (a mean, a PSI, a score quantile): whole numbers as `count`, others to four significant
 * figures, exponent form when that would hide them; `–` for an absent value (JSON's null for NaN).
 */
export function figure(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '–';
  if (Number.isInteger(n) && Math.abs(n) < 1e15) return integer.format(n);
  const size = Math.abs(n);
  if (size >= 1e6 || size < 1e-3) return n.toExponential(3);
  return String(Number(n.toPrecision(4)));
}

/** A share 0–1 as `93.1%`; `–` for an absent value. */
export const share = (n) =>
  typeof n === 'number' && Number.isFinite(n) ? `${decimal.format(n * 100)}%` : '–';
