/** Schedules: each one's cron, next run and last run (with its job), and its last error. */
import { ApiError, api } from '../api.js';
import { h, pill, replace } from '../dom.js';
import { relative, shortId, time } from '../format.js';
import { every, problemText } from '../poll.js';

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
            h('th', null, 'Next run'),
            h('th', null, 'Last run'),
            h('th', null, 'Last error'),
          ),
        ),
        body,
      ),
    ),
  );
  return every(10_000, async (signal) => {
    let list;
    try {
      list = await api('/v1/schedules', { signal });
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
      list.schedules.length === 0
        ? h('tr', null, h('td.empty', { colSpan: 6 }, 'No schedules.'))
        : list.schedules.map((s) =>
            h(
              'tr',
              { dataset: { schedule: s.name } },
              h('td', null, h('b', null, s.name), h('div.sub', null, s.tenant)),
              h('td', null, h('code', null, s.cron), h('div.sub', null, s.timezone)),
              h('td', null, pill(s.enabled ? 'enabled' : 'disabled')),
              h(
                'td',
                null,
                s.nextRunAt ? [time(s.nextRunAt), h('div.sub', null, relative(s.nextRunAt))] : '–',
              ),
              h(
                'td',
                null,
                s.lastRun
                  ? [
                      time(s.lastRun.at),
                      h(
                        'div.sub',
                        null,
                        `${s.lastRun.date} · job `,
                        h(
                          'a',
                          { href: `#/jobs/${encodeURIComponent(s.lastRun.jobId)}` },
                          shortId(s.lastRun.jobId),
                        ),
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
            ),
          ),
    );
  });
}
