/** Jobs: the tenant's jobs (every tenant's for admin keys), filtered by status and label, updated live. */
import { api, query } from '../api.js';
import { h, pill, replace } from '../dom.js';
import { ACTIVE, count, duration, elapsed, relative, shortId, time } from '../format.js';
import { every, problemText } from '../poll.js';
import { eta, jobProgressBar, rate } from '../progress.js';

const STATUSES = [
  'queued',
  'planning',
  'running',
  'finalizing',
  'succeeded',
  'failed',
  'cancelling',
  'cancelled',
  'expired',
];
const PAGE_SIZE = 50;

/**
 * @param {HTMLElement} main
 * @param {URLSearchParams} params `status`, `label` (space-separated `key:value`), `cursor`.
 * @returns {() => void} Unmount.
 */
export function mountJobsPage(main, params) {
  const status = params.get('status') ?? '';
  const labelText = params.get('label') ?? '';
  const cursor = params.get('cursor') ?? '';
  const labels = labelText.split(/\s+/).filter(Boolean);

  const statusSelect = h(
    'select',
    { id: 'filter-status', name: 'status', 'aria-label': 'Status' },
    h('option', { value: '' }, 'any status'),
    STATUSES.map((s) => h('option', { value: s, selected: s === status }, s)),
  );
  const labelInput = h('input', {
    name: 'label',
    value: labelText,
    placeholder: 'label key:value …',
    'aria-label': 'Labels',
    spellcheck: false,
  });
  const filters = h(
    'form.filters',
    {
      onsubmit: (event) => {
        event.preventDefault();
        location.hash = `#/jobs${query({ status: statusSelect.value, label: labelInput.value.trim() })}`;
      },
    },
    h('label', null, 'Status ', statusSelect),
    h('label', null, 'Labels ', labelInput),
    h('button', { type: 'submit' }, 'Filter'),
    (status || labelText) && h('a.quiet', { href: '#/jobs' }, 'Clear'),
  );
  statusSelect.addEventListener('change', () => filters.requestSubmit());

  const problem = h('p.error', { role: 'alert', hidden: true });
  const body = h('tbody');
  const pager = h('div.pager');
  const updated = h('span.muted.updated');
  const table = h(
    'table.jobs',
    null,
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        h('th', null, 'Job'),
        h('th', null, 'Status'),
        h('th.progress-col', null, 'Progress'),
        h('th.num', null, 'Rows scored'),
        h('th.num', null, 'Rejected'),
        h('th.num', null, 'Rate'),
        h('th.num', null, 'ETA'),
        h('th', null, 'Created'),
        h('th.num', null, 'Took'),
        h('th', null, 'Labels'),
      ),
    ),
    body,
  );
  replace(
    main,
    h('div.page-head', null, h('h1', null, 'Jobs'), filters, updated),
    problem,
    h('div.table-wrap', null, table),
    pager,
  );

  return every(1_000, async (signal) => {
    let page;
    try {
      page = await api(`/v1/jobs${query({ status, label: labels, limit: PAGE_SIZE, cursor })}`, { signal });
    } catch (error) {
      if (signal.aborted) throw error;
      problem.hidden = false;
      problem.textContent = `Jobs could not be loaded: ${problemText(error)}`;
      return;
    }
    problem.hidden = true;
    updated.textContent = `updated ${time(new Date().toISOString()).slice(11)}`;
    replace(
      body,
      page.jobs.length === 0
        ? h('tr', null, h('td.empty', { colSpan: 10 }, 'No jobs match.'))
        : page.jobs.map(jobRow),
    );
    replace(
      pager,
      cursor && h('a', { href: `#/jobs${query({ status, label: labelText })}` }, '← First page'),
      page.nextCursor &&
        h(
          'a',
          { href: `#/jobs${query({ status, label: labelText, cursor: page.nextCursor })}` },
          'Next page →',
        ),
    );
    // Finished lists change only when a job is submitted: a slower beat is enough.
    if (!page.jobs.some((job) => ACTIVE.has(job.status))) await sleep(4_000, signal);
  });
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });

function jobRow(job) {
  const p = job.progress;
  const href = `#/jobs/${encodeURIComponent(job.id)}`;
  return h(
    'tr',
    { dataset: { jobId: job.id, status: job.status } },
    h(
      'td.job',
      null,
      h('a.job-name', { href }, job.spec.name ?? 'unnamed job'),
      h('div.sub', null, h('code', { title: job.id }, shortId(job.id)), ' · ', job.tenant),
    ),
    h('td', null, pill(job.status)),
    h('td.progress-col', null, jobProgressBar(job)),
    h('td.num', null, count(p.rowsScored)),
    h('td.num', { class: p.rowsRejected > 0 ? 'warn' : '' }, count(p.rowsRejected)),
    h('td.num', null, rate(job)),
    h('td.num', null, eta(job)),
    h('td', { title: time(job.createdAt) }, relative(job.createdAt)),
    h('td.num', null, job.startedAt ? duration(elapsed(job.startedAt, job.finishedAt)) : '–'),
    h(
      'td.labels',
      null,
      Object.entries(job.spec.labels ?? {}).map(([k, v]) =>
        h(
          'a.label',
          { href: `#/jobs${query({ label: `${k}:${v}` })}`, title: 'Filter by this label' },
          `${k}:${v}`,
        ),
      ),
    ),
  );
}
