import type { Clock } from '../../../jobs/ports/clock.js';
import type { ScheduleStore } from '../../../jobs/ports/schedule-store.js';
import type { ScheduleRecord } from '../../../schemas/schedule.js';

/**
 * A {@link ScheduleStore} in memory with the Redis store's rules: `put` keeps `createdAt` and `lastRun`
 * and clears `lastError`; a run or an error is recorded only on a schedule that still exists.
 */
export function makeMemoryScheduleStore(options: { now?: Clock } = {}): ScheduleStore {
  const now = options.now ?? (() => new Date());
  /** `<tenant>/<name>` → record; `/` sorts before every name, so the key order is tenant then name. */
  const schedules = new Map<string, ScheduleRecord>();
  const keyOf = (tenant: string, name: string): string => `${tenant}/${name}`;
  const sorted = (): ScheduleRecord[] =>
    [...schedules.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
  const update = (tenant: string, name: string, change: (r: ScheduleRecord) => void): Promise<boolean> => {
    const record = schedules.get(keyOf(tenant, name));
    if (record) change(record);
    return Promise.resolve(record !== undefined);
  };
  return {
    put(tenant, definition) {
      const at = now().toISOString();
      const existing = schedules.get(keyOf(tenant, definition.name));
      const record: ScheduleRecord = {
        ...structuredClone(definition),
        tenant,
        createdAt: existing?.createdAt ?? at,
        updatedAt: at,
        ...(existing?.lastRun ? { lastRun: existing.lastRun } : {}),
      };
      schedules.set(keyOf(tenant, definition.name), record);
      return Promise.resolve({ record: structuredClone(record), created: existing === undefined });
    },
    get(tenant, name) {
      const record = schedules.get(keyOf(tenant, name));
      return Promise.resolve(record && structuredClone(record));
    },
    list(o = {}) {
      return Promise.resolve(
        sorted()
          .filter((r) => o.tenant === undefined || r.tenant === o.tenant)
          .map((r) => structuredClone(r)),
      );
    },
    delete(tenant, name) {
      return Promise.resolve(schedules.delete(keyOf(tenant, name)));
    },
    recordRun: (tenant, name, run) =>
      update(tenant, name, (r) => {
        r.lastRun = structuredClone(run);
        delete r.lastError;
      }),
    recordError: (tenant, name, error) =>
      update(tenant, name, (r) => {
        r.lastError = structuredClone(error);
      }),
  };
}
