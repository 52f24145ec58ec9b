import { describe, expect, it } from 'vitest';
import { promqlMetricNames } from '../../helpers/promql-metric-names.js';

describe('promqlMetricNames', () => {
  it.each([
    ['nodejs_eventloop_lag_p99_seconds > 1', ['nodejs_eventloop_lag_p99_seconds']],
    // Functions, aggregations with `by` before or after their argument, matchers and ranges.
    [
      'sum(max by (outcome) (increase(quiver_jobs_finished_total{outcome="failed"}[1h]))) / sum (x_total) by (le) > 0.2',
      ['quiver_jobs_finished_total', 'x_total'],
    ],
    // Vector matching keywords and their label lists; Grafana's variables inside ranges and matchers.
    [
      'sum by (stage) (rate(a_total{device=~"$device"}[$__rate_interval])) / ignoring (stage) group_left () sum(b)',
      ['a_total', 'b'],
    ],
    // Set operators, `on ()`, `bool`, numbers with exponents, offsets with durations.
    [
      'up_total and on () count(down) >= bool 5e3 or rate(c[5m] offset 1h) unless d',
      ['up_total', 'down', 'c', 'd'],
    ],
    // Histogram series keep their suffix; a label value that looks like a metric is not one.
    [
      'histogram_quantile(0.95, sum by (le) (rate(h_seconds_bucket{queue="score"}[5m])))',
      ['h_seconds_bucket'],
    ],
    ['label_replace(e, "dst", "$1", "src", "(.*)")', ['e']],
    ['sum(rate(f:recorded[5m])) * 3600', ['f:recorded']],
  ])('%s', (expr, names) => {
    expect(promqlMetricNames(expr)).toEqual(names);
  });
});
