/**
 * What a PromQL expression names besides metrics: functions and aggregations are followed by `(`, and these
 * words are operators or modifiers.
 */
const keywords = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression selects, as written (a histogram's `_bucket`, `_sum`, `_count`
 * kept). Not a parser, a tokenizer for the expressions we write: strings, label matchers `{…}`, ranges
 * `[…]` and the label lists of `by`, `without`, `on`, `ignoring`, `group_left`, `group_right` are removed
 * first; then every identifier that is neither a keyword nor called (`rate(`, `sum (`) is a metric.
 * Grafana's `$variables` sit inside ranges or matchers, so they go with them.
 */
export function promqlMetricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/#[^\n]*/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, ' ');
  const names = new Set<string>();
  // An identifier not glued to a number before it (`1e3`, `5m` after `offset`).
  for (const match of bare.matchAll(/(?<![\w.:$])[A-Za-z_:][\w:]*(?![\w:])(?!\s*\()/g)) {
    const word = match[0];
    if (keywords.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names];
}
