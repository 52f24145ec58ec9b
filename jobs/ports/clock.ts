/**
 * The time as processors and stores read it: passed in, so tests move it by hand (a schedule's tick, a
 * retention cutoff, a retry's due time) instead of waiting for it.
 */
export type Clock = () => Date;

export const systemClock: Clock = () => new Date();
