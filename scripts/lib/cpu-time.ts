import { readdir, readFile } from 'node:fs/promises';

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

export interface ThreadStat {
  /** The thread's name (`comm`: Node names only some of its threads). */
  name: string;
  cpuSeconds: number;
  minorFaults: number;
}

/** Each thread of another process by thread id: its name, CPU seconds and minor page faults so far. */
export async function threadStats(pid: number): Promise<Map<number, ThreadStat>> {
  const stats = new Map<number, ThreadStat>();
  const tids = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  for (const tid of tids) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => undefined);
    if (stat === undefined) continue; // the thread ended meanwhile
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    stats.set(Number(tid), {
      name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
      cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100, // utime, stime in USER_HZ
      minorFaults: Number(fields[7]), // minflt
    });
  }
  return stats;
}

/**
 * What each thread of process `pid` did between two `threadStats` readings: threads by their id's offset
 * from the process id (creation order: 0 is the main thread), those with any CPU or faults.
 */
export function threadDelta(
  pid: number,
  before: Map<number, ThreadStat>,
  after: Map<number, ThreadStat>,
): Array<{ thread: number } & ThreadStat> {
  return [...after]
    .map(([tid, now]) => {
      const then = before.get(tid);
      return {
        thread: tid - pid,
        name: now.name,
        cpuSeconds: Number((now.cpuSeconds - (then?.cpuSeconds ?? 0)).toFixed(2)),
        minorFaults: now.minorFaults - (then?.minorFaults ?? 0),
      };
    })
    .filter((t) => t.cpuSeconds > 0 || t.minorFaults > 0)
    .sort((a, b) => a.thread - b.thread);
}
