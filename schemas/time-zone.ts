import { z } from 'zod';

/** Whether `timeZone` is an IANA time zone this runtime knows (`UTC`, `Europe/Berlin`, `Asia/Tokyo`). */
export function isTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** An IANA time zone (`UTC`, `Europe/Berlin`), stored in its canonical spelling. */
export const timeZoneSchema = z
  .string()
  .min(1)
  .max(100)
  .refine(isTimeZone, 'expected an IANA time zone such as UTC or Europe/Berlin')
  .transform((timeZone) => new Intl.DateTimeFormat('en-US', { timeZone }).resolvedOptions().timeZone);
