/** One kind of resource (as `process.getActiveResourcesInfo()` names it) and how many of it. */
export interface ResourceCount {
  type: string;
  count: number;
}

/**
 * How many more of each resource type `after` holds than `before`, by type name; empty when nothing was
 * left behind. A snapshot names types, not handles, so the comparison is by count: what the test runner
 * itself holds (its IPC pipes) is in both and cancels out, and what closed in between is not a leak.
 */
export function leakedResources(before: readonly string[], after: readonly string[]): ResourceCount[] {
  const extra = new Map<string, number>();
  for (const type of after) extra.set(type, (extra.get(type) ?? 0) + 1);
  for (const type of before) extra.set(type, (extra.get(type) ?? 0) - 1);
  return [...extra]
    .filter(([, count]) => count > 0)
    .map(([type, count]) => ({ type, count }))
    .sort((a, b) => a.type.localeCompare(b.type));
}

/** `2 TCPSocketWrap, 1 Timeout`: what a leak report names. */
export function describeResources(resources: readonly ResourceCount[]): string {
  return resources.map(({ type, count }) => `${count} ${type}`).join(', ');
}

export interface SettleOptions {
  /** How long closing resources get to finish closing (a socket's FIN, a killed child's exit). */
  graceMs: number;
  /** How often the snapshot is taken again within the grace. */
  pollMs: number;
  /** The snapshot; `process.getActiveResourcesInfo` unless a test passes its own. */
  active?: () => string[];
}

/**
 * What is still open beyond `before` once the grace has passed, or nothing as soon as a snapshot shows
 * everything closed. A `quit()` or `kill()` that was awaited can still leave its handle for a few event
 * loop turns; a handle nobody closes is there for the whole grace.
 */
export async function settledLeaks(
  before: readonly string[],
  { graceMs, pollMs, active = () => process.getActiveResourcesInfo() }: SettleOptions,
): Promise<ResourceCount[]> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    // The poll's own timer has fired by the time the snapshot is taken, so it is not counted.
    const leaked = leakedResources(before, active());
    if (leaked.length === 0 || Date.now() >= deadline) return leaked;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
