import type { CpuMeter } from '../../jobs/ports/cpu-meter.js';

/**
 * The process's CPU time (`process.cpuUsage()`: every thread — inference, DuckDB, the main one) charged to
 * the measurements running at once, in equal shares: a process scoring two chunks at a time charges each
 * half of what it burned meanwhile. Node has no per-thread CPU clock before 23, and the work of one chunk
 * runs on threads shared with the others, so an equal share is the honest split.
 */
export function makeProcessCpuMeter(
  cpuMicros: () => number = () => {
    const { user, system } = process.cpuUsage();
    return user + system;
  },
): CpuMeter {
  let running = 0;
  /** CPU µs each running measurement has been charged since the meter began. */
  let perShare = 0;
  let last = cpuMicros();
  const advance = (): void => {
    const now = cpuMicros();
    if (running > 0) perShare += (now - last) / running;
    last = now;
  };
  return {
    start() {
      advance();
      running += 1;
      const from = perShare;
      let seconds: number | undefined;
      return {
        stop() {
          if (seconds === undefined) {
            advance();
            running -= 1;
            seconds = (perShare - from) / 1e6;
          }
          return seconds;
        },
      };
    },
  };
}
