import { readFile } from 'node:fs/promises';

/**
 * CPU seconds (user + system, all threads) another process has used so far, from `/proc/<pid>/stat`;
 * undefined where there is no procfs (not Linux) or the process is gone.
 */
export async function processCpuSeconds(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  // Fields after the parenthesised command name (which may hold spaces): utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticksPerSecond = 100; // USER_HZ: 100 on every Linux architecture Node runs on
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** This process's CPU seconds (user + system, all threads) since `from` (a `process.cpuUsage()`). */
export function ownCpuSeconds(from: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(from);
  return (used.user + used.system) / 1e6;
}
