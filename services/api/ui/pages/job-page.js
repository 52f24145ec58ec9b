/**
 * One job: live progress and its chart, chunks by state, the error and where it happened, usage, the run
 * report (`job-report.js`), results (manifest, parts, rejected rows) and webhook deliveries with their
 * attempts.
 */
import { ApiError, api } from '../api.js';
import { h, pill, replace } from '../dom.js';
import { ACTIVE, bytes, count, duration, elapsed, relative, shortId, time } from '../format.js';
import { every, problemText } from '../poll.js';
import { eta, jobProgressBar, rate, rowsPerSecond } from '../progress.js';
import { progressChart } from '../progress-chart.js';
import { reportLoader } from './job-report.js';

/** Chunks shown at once; the report pages them (`offset`, `limit`). */
const CHUNK_PAGE = 500;

/**
 * @param {HTMLElement} main
 * @param {string} id
 * @returns {() => void} Unmount.
 */
export function mountJobPage(main, id) {
  const path = `/v1/jobs/${encodeURIComponent(id)}`;
  const section = (name, title, ...extra) =>
    h(`section.card.${name}`, { id: name }, h('h2', null, title, ...extra), h('div.card-body'));
  const bodyOf = (el) => /** @type {HTMLElement} */ (el.querySelector('.card-body'));

  const head = h('div.page-head.job-head');
  const problem = h('p.error', { role: 'alert', hidden: true });
  const progress = section('progress', 'Progress');
  const timing = section('timing', 'Job');
  const chart = section('chart', 'Progress over time');
  const chunks = section('chunks', 'Chunks');
  const failure = section('failure', 'Error');
  const usage = section('usage', 'Usage');
  const results = section('results', 'Output');
  const report = section('report', 'Report');
  const deliveries = section('deliveries', 'Webhook deliveries');
  const spec = section('spec', 'Spec');
  failure.hidden = true;
  replace(
    main,
    h('a.back', { href: '#/jobs' }, '← Jobs'),
    head,
    problem,
    failure,
    h('div.grid-2', null, progress, timing),
    h('div.grid-2', null, chart, usage),
    chunks,
    report,
    results,
    deliveries,
    spec,
  );

  const plot = progressChart(bodyOf(chart));
  const loadReport = reportLoader(bodyOf(report));
  /** Progress seen by this page, for the chart when the API has no chunk report. */
  const observed = [];
  let chunkReport = /** @type {'unknown' | 'served' | 'absent'} */ ('unknown');
  let lastStatus = '';
  let specShown = false;
  /** The job as last read: the deliveries' poll reads it when it runs. */
  let current;
  const stops = [];

  const showProblem = (error, what) => {
    problem.hidden = !error;
    problem.textContent = error ? `${what}: ${problemText(error)}` : '';
  };

  async function loadChunks(job, signal) {
    if (chunkReport === 'absent') return renderChunksAbsent(bodyOf(chunks), job);
    try {
      const report = await api(`${path}/chunks?offset=0&limit=${CHUNK_PAGE}`, { signal });
      chunkReport = 'served';
      renderChunks(bodyOf(chunks), report);
      plot.update(timelineOf(job, report.timeline), job);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 404 || error.code === 'JOB_NOT_FOUND') throw error;
      chunkReport = 'absent';
      renderChunksAbsent(bodyOf(chunks), job);
    }
  }

  stops.push(
    every(1_000, async (signal) => {
      let job;
      try {
        job = await api(path, { signal });
      } catch (error) {
        if (signal.aborted) throw error;
        showProblem(error, 'The job could not be loaded');
        return !(error instanceof ApiError && error.status === 404);
      }
      showProblem(null);
      current = job;
      renderHead(head, job, () => cancel(job));
      renderProgress(bodyOf(progress), job);
      renderTiming(bodyOf(timing), job);
      renderFailure(failure, job);
      renderUsage(bodyOf(usage), job);
      if (!specShown) {
        renderSpec(bodyOf(spec), job);
        specShown = true;
      }
      observed.push({
        at: new Date().toISOString(),
        rows: job.progress.rowsScored + job.progress.rowsRejected,
      });
      try {
        await loadChunks(job, signal);
      } catch (error) {
        if (signal.aborted) throw error;
        showProblem(error, 'Chunks could not be loaded');
      }
      if (chunkReport === 'absent') plot.update(timelineOf(job, observed), job, 'as observed by this page');
      if (job.status !== lastStatus) {
        lastStatus = job.status;
        void renderResults(bodyOf(results), job, signal);
        // Finalize writes the report before the job's last status: asked once per status, never faster.
        void loadReport(job, signal);
        if (!job.spec.webhook)
          replace(bodyOf(deliveries), h('p.muted', null, 'No webhook configured for this job.'));
        else if (stops.length === 1)
          stops.push(every(5_000, (s) => renderDeliveries(bodyOf(deliveries), current, s)));
      }
      // A finished job changes no more.
      return ACTIVE.has(job.status);
    }),
  );

  async function cancel(job) {
    if (!confirm(`Cancel job ${job.spec.name ?? shortId(job.id)}? Chunks not yet scored are dropped.`))
      return;
    try {
      await api(`${path}/cancel`, { method: 'POST' });
    } catch (error) {
      showProblem(error, 'The job could not be cancelled');
    }
  }

  return () => {
    for (const stop of stops) stop();
    plot.destroy();
  };
}

/** The chart's series: the start at 0 rows, then the report's (or observed) cumulative rows. */
function timelineOf(job, points) {
  const series = [...points];
  if (job.startedAt && !series.some((p) => p.at <= job.startedAt))
    series.unshift({ at: job.startedAt, rows: 0 });
  return series.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
}

function renderHead(head, job, onCancel) {
  replace(
    head,
    h('h1', null, job.spec.name ?? 'unnamed job'),
    pill(job.status),
    h('code.job-id', { title: 'Job id' }, job.id),
    h('span.muted', null, `tenant ${job.tenant}`),
    h('span.spacer'),
    ['queued', 'planning', 'running'].includes(job.status) &&
      h('button.danger', { type: 'button', onclick: onCancel }, 'Cancel job'),
  );
}

/** A definition list from `[term, value]` pairs; pairs left out (`false`) and absent values are skipped. */
function facts(pairs) {
  return h(
    'dl.facts',
    null,
    pairs
      .filter((pair) => Array.isArray(pair) && pair[1] !== null && pair[1] !== undefined && pair[1] !== false)
      .map(([term, value]) => [h('dt', null, term), h('dd', null, value)]),
  );
}

function renderProgress(el, job) {
  const p = job.progress;
  const done = p.rowsScored + p.rowsRejected;
  replace(
    el,
    jobProgressBar(job),
    facts([
      ['Rows done', `${count(done)}${typeof p.rowsTotal === 'number' ? ` of ${count(p.rowsTotal)}` : ''}`],
      ['Scored', count(p.rowsScored)],
      ['Rejected', h(p.rowsRejected > 0 ? 'span.warn' : 'span', null, count(p.rowsRejected))],
      ['Chunks', `${count(p.chunksDone)} of ${count(p.chunksTotal)}`],
      ['Rate', rate(job)],
      ['ETA', eta(job)],
    ]),
  );
}

function renderTiming(el, job) {
  replace(
    el,
    facts([
      ['Created', h('span', { title: relative(job.createdAt) }, time(job.createdAt))],
      ['Started', job.startedAt ? time(job.startedAt) : '–'],
      ['Finished', job.finishedAt ? time(job.finishedAt) : '–'],
      ['Took', job.startedAt ? duration(elapsed(job.startedAt, job.finishedAt)) : '–'],
      ['Input', h('code', null, `${job.spec.input.uri} (${job.spec.input.format})`)],
      ['Model', h('code', null, job.spec.model.uri)],
      ['Output', h('code', null, job.output.uri)],
      ['Labels', Object.entries(job.spec.labels ?? {}).map(([k, v]) => h('span.label', null, `${k}:${v}`))],
    ]),
  );
}

function renderFailure(card, job) {
  card.hidden = !job.error;
  if (!job.error) return;
  const e = job.error;
  const where = [
    e.uri && ['Object', h('code', null, e.uri)],
    typeof e.row === 'number' && ['Row', count(e.row)],
    typeof e.chunk === 'number' && ['Chunk', count(e.chunk)],
  ].filter(Boolean);
  replace(
    /** @type {HTMLElement} */ (card.querySelector('.card-body')),
    h('p.error-message', null, h('code.code', null, e.code), ' ', e.message),
    where.length > 0 ? facts(where) : h('p.muted', null, 'No location recorded.'),
  );
}

function renderUsage(el, job) {
  const u = job.usage;
  if (!u) {
    replace(el, h('p.muted', null, 'Usage is recorded once the job starts scoring.'));
    return;
  }
  const row = (name, value, note) =>
    h('tr', { dataset: { usage: name } }, h('th', null, note), h('td.num', null, value));
  replace(
    el,
    h(
      'table.usage',
      null,
      h(
        'tbody',
        null,
        row('cpuSeconds', duration(u.cpuSeconds), 'CPU time'),
        row('deviceSeconds', duration(u.deviceSeconds), 'Device time'),
        row('scoringSeconds', duration(u.scoringSeconds), 'Scoring time'),
        row('rowsPerSecond', rowsPerSecond(u.rowsPerSecond), 'Scoring rate'),
        row('bytesRead', bytes(u.bytesRead), 'Read'),
        row('bytesWritten', bytes(u.bytesWritten), 'Written'),
        row('retries', count(u.retries), 'Chunk retries'),
        row('supersededAttempts', count(u.supersededAttempts), 'Superseded attempts'),
      ),
    ),
  );
}

function renderChunks(el, report) {
  const states = ['waiting', 'running', 'committed'];
  const cells = report.chunks.map((c) =>
    h('span.chunk', {
      dataset: { chunkState: c.state, index: String(c.index) },
      class: `s-${c.state}${c.attempts > 1 ? ' retried' : ''}`,
      title: [
        `chunk ${c.index}`,
        c.state,
        `${c.attempts} attempt${c.attempts === 1 ? '' : 's'}`,
        typeof c.rows === 'number' && `${count(c.rows)} rows`,
        typeof c.rejected === 'number' && `${count(c.rejected)} rejected`,
        c.committedAt && `committed ${time(c.committedAt)}`,
      ]
        .filter(Boolean)
        .join(' · '),
    }),
  );
  const notable = report.chunks.filter(
    (c) => c.state === 'running' || c.attempts > 1 || (c.rejected ?? 0) > 0,
  );
  replace(
    el,
    h(
      'div.chunk-counts',
      null,
      states.map((s) =>
        h(
          'span.chunk-count',
          { dataset: { state: s } },
          h(`span.swatch.s-${s}`),
          `${s} `,
          h('b', null, count(report.counts[s] ?? 0)),
        ),
      ),
      h('span.muted', null, `of ${count(report.total)}`),
      report.chunks.length < report.total &&
        h('span.muted', null, ` · showing the first ${count(report.chunks.length)}`),
    ),
    h('div.chunk-grid', { 'aria-label': 'Chunks by state' }, cells),
    notable.length > 0 &&
      h(
        'table.compact',
        null,
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            h('th.num', null, 'Chunk'),
            h('th', null, 'State'),
            h('th.num', null, 'Attempts'),
            h('th.num', null, 'Rows'),
            h('th.num', null, 'Rejected'),
            h('th', null, 'Committed'),
          ),
        ),
        h(
          'tbody',
          null,
          notable
            .slice(0, 50)
            .map((c) =>
              h(
                'tr',
                null,
                h('td.num', null, String(c.index)),
                h('td', null, pill(c.state)),
                h('td.num', { class: c.attempts > 1 ? 'warn' : '' }, String(c.attempts)),
                h('td.num', null, count(c.rows)),
                h('td.num', { class: (c.rejected ?? 0) > 0 ? 'warn' : '' }, count(c.rejected)),
                h('td', null, c.committedAt ? time(c.committedAt) : '–'),
              ),
            ),
        ),
      ),
  );
}

function renderChunksAbsent(el, job) {
  const p = job.progress;
  replace(
    el,
    h(
      'p.muted',
      null,
      `${count(p.chunksDone)} of ${count(p.chunksTotal)} chunks done. This API serves no chunk report (GET /v1/jobs/:id/chunks).`,
    ),
  );
}

/** Results of a succeeded job: the manifest, every part and every rejected-rows file, with links. */
async function renderResults(el, job, signal) {
  const base = [
    ['Output root', h('code', null, job.output.uri)],
    job.output.manifestUri && ['Manifest', h('code', null, job.output.manifestUri)],
  ];
  if (job.status !== 'succeeded') {
    replace(
      el,
      facts(base),
      h(
        'p.muted',
        null,
        job.status === 'failed' || job.status === 'cancelled' || job.status === 'expired'
          ? 'No results: the job did not succeed.'
          : 'Results are listed once the job has succeeded.',
      ),
      job.progress.rowsRejected > 0 &&
        h(
          'p.warn',
          null,
          `${count(job.progress.rowsRejected)} rows rejected so far; their files are under rejected/ of the output.`,
        ),
    );
    return;
  }
  let r;
  try {
    r = await api(`/v1/jobs/${encodeURIComponent(job.id)}/results`, { signal });
  } catch (error) {
    if (signal.aborted) return;
    replace(el, facts(base), h('p.error', null, `Results could not be loaded: ${problemText(error)}`));
    return;
  }
  const m = r.manifest;
  const manifestBlob = URL.createObjectURL(
    new Blob([JSON.stringify(m, null, 2)], { type: 'application/json' }),
  );
  const link = (file) =>
    file.url
      ? h('a', { href: file.url, rel: 'noreferrer', download: '' }, 'download')
      : h('span.muted', { title: 'Read it in place (not in S3, nothing to sign)' }, 'in place');
  const files = (list) =>
    h(
      'table.compact.files',
      null,
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th.num', null, '#'),
          h('th', null, 'File'),
          h('th.num', null, 'Rows'),
          h('th.num', null, 'Size'),
          h('th', null, 'SHA-256'),
          h('th', null, ''),
        ),
      ),
      h(
        'tbody',
        null,
        list.map((f) =>
          h(
            'tr',
            null,
            h('td.num', null, String(f.index)),
            h('td', null, h('code', null, f.uri)),
            h('td.num', null, count(f.rows)),
            h('td.num', null, bytes(f.bytes)),
            h('td', null, f.sha256 ? h('code', { title: f.sha256 }, `${f.sha256.slice(0, 12)}…`) : '–'),
            h('td', null, link(f)),
          ),
        ),
      ),
    );
  replace(
    el,
    facts([
      ...base,
      [
        'Rows',
        `${count(m.rowsScored)} scored, ${count(m.rowsRejected)} rejected, ${count(m.inputRows)} read`,
      ],
      ['Scoring time', duration(m.timings.scoringSeconds)],
      ['Format', m.format],
      r.urlsExpireAt && ['Links expire', `${time(r.urlsExpireAt)} (${relative(r.urlsExpireAt)})`],
    ]),
    h(
      'p',
      null,
      h('a.button', { href: manifestBlob, download: `${job.id}-manifest.json` }, 'Download manifest (JSON)'),
    ),
    h('h3', null, `Parts (${count(r.parts.length)})`),
    files(r.parts),
    h('h3', null, `Rejected rows (${count(m.rowsRejected)})`),
    r.rejected.length > 0 ? files(r.rejected) : h('p.muted', null, 'No rows were rejected.'),
  );
}

/** The job's deliveries with their attempts; polled while any is pending. */
async function renderDeliveries(el, job, signal) {
  let list;
  try {
    list = (await api(`/v1/jobs/${encodeURIComponent(job.id)}/deliveries`, { signal })).deliveries;
  } catch (error) {
    if (signal.aborted) throw error;
    replace(el, h('p.error', null, `Deliveries could not be loaded: ${problemText(error)}`));
    return true;
  }
  const retry = async (delivery, button) => {
    button.disabled = true;
    try {
      await api(
        `/v1/jobs/${encodeURIComponent(job.id)}/deliveries/${encodeURIComponent(delivery.id)}/retry`,
        { method: 'POST' },
      );
      button.textContent = 'Queued';
    } catch (error) {
      button.disabled = false;
      button.title = problemText(error);
      button.textContent = 'Retry failed';
    }
  };
  replace(
    el,
    h('p.muted', null, 'To ', h('code', null, job.spec.webhook?.url ?? ''), '.'),
    list.length === 0
      ? h('p.muted', null, 'No deliveries yet: events are sent when the job finishes.')
      : h(
          'table.compact.deliveries',
          null,
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              h('th', null, 'Event'),
              h('th', null, 'Status'),
              h('th', null, 'Attempts'),
              h('th', null, 'Next attempt'),
              h('th', null, ''),
            ),
          ),
          h(
            'tbody',
            null,
            list.map((d) => {
              const button = h('button.small', { type: 'button' }, 'Retry now');
              button.addEventListener('click', () => void retry(d, button));
              return h(
                'tr',
                { dataset: { deliveryId: d.id } },
                h(
                  'td',
                  null,
                  h('code', null, d.event),
                  h('div.sub', null, h('code', { title: 'webhook-id' }, d.id)),
                ),
                h('td', null, pill(d.status)),
                h(
                  'td',
                  null,
                  d.attempts.length === 0
                    ? h('span.muted', null, 'none yet')
                    : h(
                        'ol.attempts',
                        null,
                        d.attempts.map((a) =>
                          h(
                            'li',
                            null,
                            `${time(a.at).slice(11)} · `,
                            a.statusCode
                              ? h(a.statusCode < 300 ? 'span.ok' : 'span.warn', null, `HTTP ${a.statusCode}`)
                              : h('span.warn', null, 'no response'),
                            ` · ${Math.round(a.durationMs)} ms`,
                            a.error && h('span.muted', null, ` · ${a.error}`),
                            typeof a.retryAfterSeconds === 'number' &&
                              h('span.muted', null, ` · Retry-After ${a.retryAfterSeconds}s`),
                          ),
                        ),
                      ),
                ),
                h(
                  'td',
                  null,
                  d.nextAttemptAt ? `${time(d.nextAttemptAt)} (${relative(d.nextAttemptAt)})` : '–',
                ),
                h('td', null, d.status === 'delivered' ? null : button),
              );
            }),
          ),
        ),
  );
  return ACTIVE.has(job.status) || list.length === 0 || list.some((d) => d.status === 'pending');
}

function renderSpec(el, job) {
  replace(
    el,
    h(
      'details',
      null,
      h('summary', null, 'The job spec as submitted (webhook secret left out)'),
      h('pre', null, JSON.stringify(job.spec, null, 2)),
    ),
  );
}
