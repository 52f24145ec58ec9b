import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format';
import type { Registry } from 'prom-client';

/** A scrape parsed by a real Prometheus text-format parser, families by name. */
export type Scrape = Map<string, PrometheusFamily>;

export function parseScrape(text: string): Scrape {
  return new Map(parsePrometheusTextFormat(text).map((family) => [family.name, family]));
}

/** The value of the sample of `name` whose labels include `labels` (a histogram's: its count); throws when there is none. */
export function sampleValue(scrape: Scrape, name: string, labels: Record<string, string> = {}): number {
  const family = scrape.get(name);
  const sample = family?.metrics.find((m) =>
    Object.entries(labels).every(([key, value]) => m.labels?.[key] === value),
  );
  if (!sample) throw new Error(`no sample ${name}${JSON.stringify(labels)} in the scrape`);
  return Number(sample.value ?? sample.count);
}

/**
 * A histogram with labels, read from the registry itself: the text parser above flattens a histogram's
 * samples into one and loses their labels when the family has labels besides `le`.
 */
export async function histogramOf(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
): Promise<{ count: number; sum: number; buckets: Map<number, number> }> {
  const family = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const matches = (sample: { labels: Record<string, unknown> }) =>
    Object.entries(labels).every(([key, value]) => sample.labels[key] === value);
  // A histogram's values carry the sample's name (`_bucket`, `_sum`, `_count`); the declared type omits it.
  const samples = (
    (family?.values ?? []) as Array<{ value: number; labels: Record<string, unknown>; metricName?: string }>
  ).filter(matches);
  if (samples.length === 0) throw new Error(`no histogram ${name}${JSON.stringify(labels)} in the registry`);
  const valueOf = (suffix: string) => samples.find((s) => s.metricName === `${name}_${suffix}`)?.value ?? 0;
  const buckets = new Map<number, number>();
  for (const sample of samples) {
    if (sample.metricName === `${name}_bucket`) buckets.set(Number(sample.labels.le), sample.value);
  }
  return { count: valueOf('count'), sum: valueOf('sum'), buckets };
}
