import type { ScheduleRuns } from '../../../jobs/ports/schedule-runs.js';
import type { ScheduleRunEntry } from '../../../schemas/schedule.js';

/**
 * {@link ScheduleRuns} in memory with the Redis store's rules: one run per logical time, runs admitted
 * oldest first up to `maxActive`, nothing added to a schedule `exists` says is gone.
 */
export function makeMemoryScheduleRuns(
  options: { exists?: (tenant: string, name: string) => Promise<boolean> } = {},
): ScheduleRuns {
  const bySchedule = new Map<string, Map<string, ScheduleRunEntry>>();
  const active = new Map<string, Set<string>>();
  const keyOf = (tenant: string, name: string) => `${tenant}/${name}`;
  const runsOf = (tenant: string, name: string) => {
    const key = keyOf(tenant, name);
    let runs = bySchedule.get(key);
    if (runs === undefined) bySchedule.set(key, (runs = new Map<string, ScheduleRunEntry>()));
    let set = active.get(key);
    if (set === undefined) active.set(key, (set = new Set<string>()));
    return { runs, active: set };
  };
  const byTime = (a: ScheduleRunEntry, b: ScheduleRunEntry) => Date.parse(a.at) - Date.parse(b.at);
  const copy = (e: ScheduleRunEntry) => structuredClone(e);
  return {
    async add(tenant, name, entries) {
      if (options.exists && !(await options.exists(tenant, name))) return [];
      const s = runsOf(tenant, name);
      const added: string[] = [];
      for (const entry of entries) {
        if (s.runs.has(entry.logicalTime)) continue;
        s.runs.set(entry.logicalTime, copy(entry));
        if (entry.state !== 'waiting') s.active.add(entry.logicalTime);
        added.push(entry.logicalTime);
      }
      return added;
    },
    admit(tenant, name, { maxActive, finished, now }) {
      const s = runsOf(tenant, name);
      for (const f of finished) s.active.delete(f);
      const waiting = [...s.runs.values()].filter((e) => e.state === 'waiting').sort(byTime);
      const admitted: ScheduleRunEntry[] = [];
      for (const entry of waiting) {
        if (s.active.size >= maxActive) break;
        entry.state = 'admitted';
        s.active.add(entry.logicalTime);
        admitted.push(copy(entry));
      }
      void now;
      return Promise.resolve(admitted);
    },
    active(tenant, name) {
      const s = runsOf(tenant, name);
      return Promise.resolve([...s.active].map((t) => copy(s.runs.get(t)!)).sort(byTime));
    },
    waitingCount(tenant, name) {
      return Promise.resolve(
        [...runsOf(tenant, name).runs.values()].filter((e) => e.state === 'waiting').length,
      );
    },
    markSubmitted(tenant, name, logicalTime, at, jobId) {
      const entry = runsOf(tenant, name).runs.get(logicalTime);
      if (entry) {
        entry.state = 'submitted';
        entry.jobId = jobId;
        entry.submittedAt = at.toISOString();
      }
      return Promise.resolve();
    },
    refuse(tenant, name, logicalTime, error) {
      const s = runsOf(tenant, name);
      const entry = s.runs.get(logicalTime);
      if (entry) {
        entry.state = 'refused';
        entry.error = { ...error };
        s.active.delete(logicalTime);
      }
      return Promise.resolve();
    },
    get(tenant, name, logicalTime) {
      const entry = runsOf(tenant, name).runs.get(logicalTime);
      return Promise.resolve(entry && copy(entry));
    },
    page(tenant, name, { limit, before }) {
      const all = [...runsOf(tenant, name).runs.values()]
        .filter((e) => before === undefined || Date.parse(e.at) < before)
        .sort((a, b) => byTime(b, a));
      const runs = all.slice(0, limit).map(copy);
      return Promise.resolve({
        runs,
        nextBefore: all.length > limit ? Date.parse(runs[runs.length - 1]!.at) : null,
      });
    },
    latestAtOrBefore(tenant, name, at) {
      const found = [...runsOf(tenant, name).runs.values()]
        .filter((e) => Date.parse(e.at) <= at.getTime())
        .sort((a, b) => byTime(b, a))[0];
      return Promise.resolve(found && copy(found));
    },
    forget(tenant, name) {
      bySchedule.delete(keyOf(tenant, name));
      active.delete(keyOf(tenant, name));
      return Promise.resolve();
    },
  };
}
