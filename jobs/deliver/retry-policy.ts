import { RetryScheduleInvalid } from './errors/retry-schedule-invalid.js';

/**
 * Delays before attempts 2, 3, …: the first attempt goes at once, then roughly exponential gaps over about
 * three days (71.6 h in all), so a receiver down for a weekend still gets its events.
 */
export const DEFAULT_RETRY_SCHEDULE = '5s,5m,30m,2h,5h,10h,14h,20h,20h';

/** Each delay moves by up to this fraction either way, so receivers that fail together retry apart. */
export const DEFAULT_JITTER = 0.2;

/** A receiver asking (Retry-After) for a longer wait than this gets this long. */
export const DEFAULT_MAX_RETRY_AFTER_MS = 24 * 3_600_000;

const unitMs = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * Parses a schedule such as `5s,5m,30m,2h` (units ms, s, m, h, d; decimals allowed) into milliseconds.
 *
 * @throws RetryScheduleInvalid when it is empty or an entry is not a positive duration.
 */
export function parseRetrySchedule(text: string): number[] {
  const entries = text.split(',').map((entry) => entry.trim());
  if (entries.every((entry) => entry === '')) throw new RetryScheduleInvalid(text, 'no delays');
  return entries.map((entry) => {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(entry);
    const ms = match ? Number(match[1]) * unitMs[match[2] as keyof typeof unitMs] : NaN;
    if (!(ms > 0))
      throw new RetryScheduleInvalid(text, `${JSON.stringify(entry)} is not a positive duration`);
    return Math.round(ms);
  });
}

/** How deliveries are retried; compiled from the delivery options. */
export interface RetryPolicy {
  /** Milliseconds before attempts 2, 3, …; after the last one's attempt the delivery fails. */
  scheduleMs: readonly number[];
  /** Fraction each delay moves by at random, either way. Default {@link DEFAULT_JITTER}. */
  jitter?: number;
  /** Longest `Retry-After` honoured. Default {@link DEFAULT_MAX_RETRY_AFTER_MS}. */
  maxRetryAfterMs?: number;
}

/** What one attempt came to. */
export type AttemptOutcome =
  /** The receiver answered (a 3xx counts as an answer: redirects are never followed). */
  | {
      kind: 'response';
      statusCode: number;
      retryAfterSeconds?: number;
      /** Why the answer counts as a failure (non-2xx, a redirect not followed); absent for 2xx. */
      error?: string;
    }
  /** No answer: connection refused or reset, timeout, TLS failure. */
  | { kind: 'network-error'; error: string }
  /** The SSRF guard refused the URL before anything was sent. */
  | { kind: 'refused'; error: string };

/** The delivery's status after an attempt, and when the next one is due while it stays pending. */
export type DeliveryDecision =
  { status: 'delivered' | 'disabled' | 'failed' | 'refused' } | { status: 'pending'; delayMs: number };

/**
 * Decides what follows attempt number `attemptInSchedule` (1-based, counted from the start of the current
 * schedule: a manual retry starts a new one). 2xx delivers; 410 Gone disables; a refused URL is refused
 * (retrying cannot help until the allowlist changes); anything else waits the schedule's next delay with
 * jitter, at least as long as the receiver's `Retry-After` asked (capped), and fails once the schedule is
 * spent.
 */
export function decideNextAttempt(
  outcome: AttemptOutcome,
  attemptInSchedule: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): DeliveryDecision {
  if (outcome.kind === 'refused') return { status: 'refused' };
  if (outcome.kind === 'response') {
    if (outcome.statusCode >= 200 && outcome.statusCode < 300) return { status: 'delivered' };
    if (outcome.statusCode === 410) return { status: 'disabled' };
  }
  const scheduled = policy.scheduleMs[attemptInSchedule - 1];
  if (scheduled === undefined) return { status: 'failed' };
  const jitter = policy.jitter ?? DEFAULT_JITTER;
  const jittered = scheduled * (1 + jitter * (2 * random() - 1));
  const retryAfterMs =
    outcome.kind === 'response' && outcome.retryAfterSeconds !== undefined
      ? Math.min(outcome.retryAfterSeconds * 1_000, policy.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS)
      : 0;
  return { status: 'pending', delayMs: Math.round(Math.max(jittered, retryAfterMs)) };
}
