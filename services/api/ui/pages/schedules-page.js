/**
 * Schedules: each one's cron, state (active or paused), next fire times, active and waiting runs, its last
 * runs (each linking to its job), and its last error.
 */
import { ApiError, api, query } from '../api.js';
import { h, pill, replace } from '../dom.js';
import { count, duration, relative, shortId, time } from '../format.js';
import { every, problemText } from '../poll.js';

/** Runs shown per schedule, newest first (the API's detail holds the last 20). */
const RUNS_SHOWN = 5;

/** A run's job: a link once the job exists (not while the run waits or after it was refused). */
function runJob(run) {
  if (run.status === 'waiting' || run.status === 'refused') return h('span.muted', null, shortId(run.jobId));
  return h('a', { href: `#/jobs/${encodeURIComponent(run.jobId)}` }, shortId(run.jobId));
}

/** One run as a line: status, logical time, job, rows and duration once known. */
function runLine(run) {
  const facts = [
    run.rows === null ? undefined : `${count(run.rows)} rows`,
    run.durationSeconds === null ? undefined : duration(run.durationSeconds),
    run.error ? run.error.code : undefined,
  ].filter((fact) => fact !== undefined);
  return h(
    'div.run',
    { dataset: { logicalTime: run.logicalTime } },
    pill(run.status),
    ' ',
    run.logicalTime,
    ' · job ',
    runJob(run),
    facts.length > 0 ? h('span.sub', null, ` · ${facts.join(' · ')}`) : null,
  );
}

/**
 * The detail of every listed schedule (next fire times, runs): the list leaves them out. A detail that
 * fails to load leaves its row with the list's facts.
 */
async function detailsOf(schedules, signal) {
  return Promise.all(
    schedules.map((s) =>
      api(`/v1/schedules/${encodeURIComponent(s.name)}${query({ tenant: s.tenant })}`, { signal }).catch(
        (error) => {
          if (signal.aborted) throw error;
          return s;
        },
      ),
    ),
  );
}

function scheduleRow(s) {
  const next = s.nextRunTimes ?? (s.nextRunAt ? [s.nextRunAt] : []);
  const runs = s.runs ?? [];
  return h(
    'tr',
    { dataset: { schedule: s.name, tenant: s.tenant } },
    h('td', null, h('b', null, s.name), h('div.sub', null, s.tenant)),
    h('td', null, h('code', null, s.cron), h('div.sub', null, s.timezone)),
    h(
      'td',
      null,
      s.paused ? h('span.pill.s-disabled', null, 'paused') : h('span.pill.s-enabled', null, 'active'),
    ),
    h(
      'td.next-runs',
      null,
      next.length > 0
        ? [
            time(next[0]),
            h('div.sub', null, relative(next[0])),
            ...next.slice(1).map((at) => h('div.sub', null, time(at))),
          ]
        : '–',
    ),
    h(
      'td.active-runs',
      null,
      s.activeRuns === undefined
        ? '–'
        : [
            `${s.activeRuns} active · ${s.waitingRuns} waiting`,
            h('div.sub', null, `at most ${s.maxActiveRuns} at once`),
          ],
    ),
    h(
      'td.last-runs',
      null,
      runs.length > 0
        ? runs.slice(0, RUNS_SHOWN).map(runLine)
        : s.lastRun
          ? [
              time(s.lastRun.at),
              h(
                'div.sub',
                null,
                `${s.lastRun.logicalTime ?? s.lastRun.date} · job `,
                h('a', { href: `#/jobs/${encodeURIComponent(s.lastRun.jobId)}` }, shortId(s.lastRun.jobId)),
              ),
            ]
          : h('span.muted', null, 'never'),
    ),
    h(
      'td',
      null,
      s.lastError
        ? [
            h('code.code', null, s.lastError.code),
            ' ',
            s.lastError.message,
            h('div.sub', null, time(s.lastError.at)),
          ]
        : '–',
    ),
  );
}

/**
 * @param {HTMLElement} main
 * @returns {() => void} Unmount.
 */
export function mountSchedulesPage(main) {
  const problem = h('p.error', { role: 'alert', hidden: true });
  const body = h('tbody');
  replace(
    main,
    h('div.page-head', null, h('h1', null, 'Schedules')),
    problem,
    h(
      'div.table-wrap',
      null,
      h(
        'table.schedules',
        null,
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            h('th', null, 'Schedule'),
            h('th', null, 'Cron'),
            h('th', null, 'State'),
            h('th', null, 'Next runs'),
            h('th', null, 'Runs'),
            h('th', null, 'Last runs'),
            h('th', null, 'Last error'),
          ),
        ),
        body,
      ),
    ),
  );
  return every(10_000, async (signal) => {
    let schedules;
    try {
      schedules = await detailsOf((await api('/v1/schedules', { signal })).schedules, signal);
    } catch (error) {
      if (signal.aborted) throw error;
      problem.hidden = false;
      problem.textContent =
        error instanceof ApiError && error.code === 'ROUTE_NOT_FOUND'
          ? 'This API serves no schedules.'
          : `Schedules could not be loaded: ${problemText(error)}`;
      return !(error instanceof ApiError && error.code === 'ROUTE_NOT_FOUND');
    }
    problem.hidden = true;
    replace(
      body,
      schedules.length === 0
        ? h('tr', null, h('td.empty', { colSpan: 7 }, 'No schedules.'))
        : schedules.map(scheduleRow),
    );
  });
}
