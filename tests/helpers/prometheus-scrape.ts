import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format';

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
