/**
 * Queues (admin keys): depths of the pipeline's queues, and bull-board framed from `/ui/queues/` — its
 * requests carry the key through the board's service worker (`queue-board-auth.js`).
 */
import { api, session } from '../api.js';
import { h, replace } from '../dom.js';
import { count } from '../format.js';
import { every, problemText } from '../poll.js';
import { authorizeQueueBoard } from '../queue-board-auth.js';

const COLUMNS = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'backlog'];

/**
 * @param {HTMLElement} main
 * @param {{ admin: boolean }} principal
 * @returns {() => void} Unmount.
 */
export function mountQueuesPage(main, principal) {
  if (!principal.admin) {
    replace(
      main,
      h('div.page-head', null, h('h1', null, 'Queues')),
      h('p.error', { role: 'alert' }, 'The queues need an admin key.'),
    );
    return () => {};
  }
  const problem = h('p.error', { role: 'alert', hidden: true });
  const body = h('tbody');
  const board = h('div.board');
  replace(
    main,
    h(
      'div.page-head',
      null,
      h('h1', null, 'Queues'),
      h('span.spacer'),
      h('a.quiet', { href: '/ui/queues/', target: '_blank', rel: 'opener' }, 'Open the board in a new tab ↗'),
    ),
    problem,
    h(
      'table.compact.depths',
      null,
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', null, 'Queue'),
          COLUMNS.map((c) => h('th.num', null, c)),
        ),
      ),
      body,
    ),
    board,
  );

  let alive = true;
  authorizeQueueBoard(session.key() ?? '')
    .then(() => {
      if (alive)
        replace(
          board,
          h('iframe.board-frame', { src: '/ui/queues/', title: 'bull-board: the pipeline queues' }),
        );
    })
    .catch((error) => {
      if (alive)
        replace(
          board,
          h(
            'p.error',
            null,
            `The queue board cannot be shown: ${error instanceof Error ? error.message : error}`,
          ),
        );
    });

  const stop = every(2_000, async (signal) => {
    let depths;
    try {
      depths = await api('/v1/queues', { signal });
    } catch (error) {
      if (signal.aborted) throw error;
      problem.hidden = false;
      problem.textContent = `Queue depths could not be loaded: ${problemText(error)}`;
      return;
    }
    problem.hidden = true;
    replace(
      body,
      Object.entries(depths).map(([name, d]) =>
        h(
          'tr',
          { dataset: { queue: name } },
          h('td', null, h('b', null, name)),
          COLUMNS.map((c) => h('td.num', null, count(d[c]))),
        ),
      ),
    );
  });
  return () => {
    alive = false;
    stop();
  };
}
