/**
 * A job's run report (`GET /v1/jobs/:id/report`, `schemas/run-report.ts`) on its page: the quality verdict,
 * every feature column with a small histogram, the score columns with their quantiles, and each
 * challenger's agreement with the champion. Column and challenger names are the user's data: they go in
 * through `h` as text, like everything else from the API.
 */
import { ApiError, api } from '../api.js';
import { h, replace } from '../dom.js';
import { count, figure, share, time } from '../format.js';
import { problemText } from '../poll.js';

/** Statuses after which a job writes no (other) report: once one is shown for them, it is not asked again. */
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'expired']);

/**
 * Loads and shows the report of `job` in `el`. The job page calls it when it has read the job; it asks
 * the API at most once per call, and not at all once a terminal job's report is shown.
 *
 * @returns {(job: any, signal: AbortSignal) => Promise<void>}
 */
export function reportLoader(el) {
  /** @type {'none' | 'shown'} */
  let state = 'none';
  return async (job, signal) => {
    if (state === 'shown' && TERMINAL.has(job.status)) return;
    let report;
    try {
      report = await api(`/v1/jobs/${encodeURIComponent(job.id)}/report`, { signal });
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status === 404 && error.code === 'REPORT_NOT_FOUND') {
        replace(
          el,
          h(
            'p.muted.report-none',
            null,
            TERMINAL.has(job.status)
              ? 'No report for this job: it ended without one (or ran before Quiver wrote reports).'
              : 'No report yet: it is written when the job finishes.',
          ),
        );
        return;
      }
      replace(el, h('p.error', null, `The report could not be loaded: ${problemText(error)}`));
      return;
    }
    state = 'shown';
    renderReport(el, report);
  };
}

/** `passed`, `warnings` (onViolation `warn` with violations) or `failed`, with the pill's colour. */
function verdictOf(quality) {
  if (!quality) return { verdict: 'unchecked', tone: 'cancelled', text: 'quality not checked' };
  if (!quality.passed) return { verdict: 'failed', tone: 'failed', text: 'quality failed' };
  if (quality.violations.length > 0)
    return { verdict: 'warnings', tone: 'pending', text: 'quality warnings' };
  return { verdict: 'passed', tone: 'succeeded', text: 'quality passed' };
}

/**
 * Bars for `histogram.counts`, each as tall as its share of the fullest bin; its title gives the bin's
 * range and count.
 */
function histogramBars(histogram) {
  const counts = histogram?.counts ?? [];
  const edges = histogram?.edges ?? [];
  const top = Math.max(0, ...counts);
  return h(
    'span.hist',
    { role: 'img', 'aria-label': `histogram of ${counts.length} bins` },
    counts.map((n, i) => {
      const bar = h('span.hist-bar', {
        title: `[${figure(edges[i])}, ${figure(edges[i + 1])}): ${count(n)}`,
        dataset: { count: String(n) },
      });
      bar.style.height = `${top === 0 ? 0 : ((n / top) * 100).toFixed(1)}%`;
      return bar;
    }),
  );
}

function table(headers, rows) {
  return h(
    'table.compact',
    null,
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        headers.map(([label, numeric]) => h(numeric ? 'th.num' : 'th', null, label)),
      ),
    ),
    h('tbody', null, rows),
  );
}

const statHeads = [
  ['Count', true],
  ['Nulls', true],
  ['NaNs', true],
  ['Mean', true],
  ['Std', true],
  ['Min', true],
  ['Max', true],
];
const statCells = (s) => [
  h('td.num', null, count(s.count)),
  h('td.num', { class: s.nulls > 0 ? 'warn' : '' }, count(s.nulls)),
  h('td.num', { class: s.nans > 0 ? 'warn' : '' }, count(s.nans)),
  h('td.num', null, figure(s.mean)),
  h('td.num', null, figure(s.std)),
  h('td.num', null, figure(s.min)),
  h('td.num', null, figure(s.max)),
];

/** The report in `el`. */
export function renderReport(el, report) {
  const quality = report.quality;
  const { verdict, tone, text } = verdictOf(quality);
  const psi = (kind, column) => quality?.psi?.[kind]?.[column];
  const hasPsi = (kind) => Object.keys(quality?.psi?.[kind] ?? {}).length > 0;
  const violated = new Set((quality?.violations ?? []).map((v) => `${v.kind}\u0000${v.column}`));

  const features = Object.entries(report.features);
  const featurePsi = hasPsi('features');
  const scores = Object.entries(report.scores);
  const scorePsi = hasPsi('scores');
  const quantiles = [...new Set(scores.flatMap(([, s]) => Object.keys(s.quantiles)))].sort(
    (a, b) => Number(a.slice(1)) - Number(b.slice(1)),
  );
  const agreement = Object.entries(report.agreement).flatMap(([challenger, columns]) =>
    Object.entries(columns).map(([column, a]) => ({ challenger, column, a })),
  );

  replace(
    el,
    h(
      'div.report-head',
      null,
      h(`span.pill.quality.s-${tone}`, { dataset: { quality: verdict } }, text),
      quality?.baseline && h('span.muted', null, 'against ', h('code', null, quality.baseline)),
      h('span.muted', null, `written ${time(report.createdAt)}`),
    ),
    h(
      'dl.facts',
      null,
      h('dt', null, 'Rows'),
      h(
        'dd',
        null,
        `${count(report.rows.scored)} scored, ${count(report.rows.rejected)} rejected, ${count(report.rows.input)} read`,
      ),
      h('dt', null, 'Champion'),
      h('dd', null, h('code', null, report.models.champion.uri)),
      report.models.challengers.map((c) => [
        h('dt', null, 'Challenger'),
        h('dd', null, h('b', null, c.name), ' ', h('code', null, c.uri)),
      ]),
    ),
    quality &&
      quality.violations.length > 0 &&
      h(
        'div.violations',
        null,
        h('h3', null, quality.passed ? 'Warnings' : 'Violations'),
        table(
          [['Column'], ['Kind'], ['Check'], ['Value', true], ['Limit', true]],
          quality.violations.map((v) =>
            h(
              'tr',
              { dataset: { column: v.column, check: v.check } },
              h('td', null, h('code', null, v.column)),
              h('td', null, v.kind),
              h('td', null, v.check),
              h('td.num.warn', null, figure(v.value)),
              h('td.num', null, figure(v.limit)),
            ),
          ),
        ),
      ),
    h('h3', null, `Features (${count(features.length)})`),
    features.length === 0
      ? h('p.muted', null, 'No feature statistics.')
      : h(
          'div.table-wrap.features',
          null,
          table(
            [['Column'], ['Distribution'], ...statHeads, ...(featurePsi ? [['PSI', true]] : [])],
            features.map(([column, s]) =>
              h(
                'tr',
                { dataset: { column } },
                h('td', null, h('code', null, column)),
                h('td', null, histogramBars(s.histogram)),
                statCells(s),
                featurePsi &&
                  h(
                    'td.num',
                    { class: violated.has(`feature\u0000${column}`) ? 'warn' : '' },
                    figure(psi('features', column)),
                  ),
              ),
            ),
          ),
        ),
    h('h3', null, `Scores (${count(scores.length)})`),
    scores.length === 0
      ? h('p.muted', null, 'No score statistics.')
      : h(
          'div.table-wrap.scores',
          null,
          table(
            [
              ['Column'],
              ['Distribution'],
              ...statHeads,
              ...quantiles.map((q) => [q, true]),
              ...(scorePsi ? [['PSI', true]] : []),
            ],
            scores.map(([column, s]) =>
              h(
                'tr',
                { dataset: { column } },
                h('td', null, h('code', null, column)),
                h('td', null, histogramBars(s.histogram)),
                statCells(s),
                quantiles.map((q) => h('td.num', { dataset: { quantile: q } }, figure(s.quantiles[q]))),
                scorePsi &&
                  h(
                    'td.num',
                    { class: violated.has(`score\u0000${column}`) ? 'warn' : '' },
                    figure(psi('scores', column)),
                  ),
              ),
            ),
          ),
        ),
    agreement.length > 0 && [
      h('h3', null, 'Agreement with the champion'),
      h(
        'div.table-wrap.agreement',
        null,
        table(
          [
            ['Challenger'],
            ['Column'],
            ['Rows', true],
            ['Mean |Δ|', true],
            ['Correlation', true],
            ['Same side', true],
          ],
          agreement.map(({ challenger, column, a }) =>
            h(
              'tr',
              { dataset: { challenger, column } },
              h('td', null, h('b', null, challenger)),
              h('td', null, h('code', null, column)),
              h('td.num', null, count(a.rows)),
              h('td.num', null, figure(a.meanAbsDiff)),
              h('td.num', null, figure(a.correlation)),
              h(
                'td.num',
                null,
                a.sameSide ? `${share(a.sameSide.share)} at ${figure(a.sameSide.threshold)}` : '–',
              ),
            ),
          ),
        ),
      ),
    ],
  );
}
