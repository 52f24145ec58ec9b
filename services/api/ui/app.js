/**
 * The dashboard shell: sign-in, the top bar and a hash router over the pages. Without a key only the
 * sign-in form is shown and no data call is made.
 */
import { ApiError, api, session, whenUnauthenticated } from './api.js';
import { forgetQueueBoardKey } from './queue-board-auth.js';
import { mountJobsPage } from './pages/jobs-page.js';
import { mountJobPage } from './pages/job-page.js';
import { mountSchedulesPage } from './pages/schedules-page.js';
import { mountQueuesPage } from './pages/queues-page.js';

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** What the signed-in key may do; `admin` is learnt from `GET /v1/queues` (403 for other keys). */
const principal = { admin: false };
/** The mounted page's clean-up (timers, requests in flight). */
let unmount = () => {};

function showSignIn(message) {
  unmount();
  unmount = () => {};
  $('top').hidden = true;
  $('main').hidden = true;
  $('main').replaceChildren();
  $('signin').hidden = false;
  const error = $('signin-error');
  error.hidden = !message;
  error.textContent = message ?? '';
  $('api-key').focus();
}

/** Checks `key` with a cheap call: a wrong key never reaches the session. */
async function signIn(key) {
  await api('/v1/jobs?limit=1', { key });
  session.signIn(key);
  await start();
}

async function learnScope() {
  try {
    await api('/v1/queues');
    principal.admin = true;
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 403) throw error;
    principal.admin = false;
  }
}

async function start() {
  try {
    await learnScope();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return; // back on the sign-in form already
    showSignIn(error instanceof Error ? error.message : String(error));
    return;
  }
  $('signin').hidden = true;
  $('top').hidden = false;
  $('main').hidden = false;
  $('nav-queues').hidden = !principal.admin;
  $('who').textContent = principal.admin ? 'admin key' : 'tenant key';
  route();
}

function route() {
  if (!session.key()) return showSignIn();
  unmount();
  const main = $('main');
  main.replaceChildren();
  const hash = location.hash.replace(/^#/, '') || '/jobs';
  const [path = '', search = ''] = hash.split('?');
  const params = new URLSearchParams(search);
  const parts = path.split('/').filter(Boolean);
  let page = parts[0] ?? 'jobs';
  if (page === 'jobs' && parts[1]) {
    unmount = mountJobPage(main, decodeURIComponent(parts[1]));
    page = 'jobs';
  } else if (page === 'schedules') unmount = mountSchedulesPage(main);
  else if (page === 'queues') unmount = mountQueuesPage(main, principal);
  else {
    page = 'jobs';
    unmount = mountJobsPage(main, params);
  }
  for (const link of $('nav').querySelectorAll('a')) {
    link.classList.toggle('current', link.dataset.page === page);
  }
}

whenUnauthenticated((message) => {
  session.signOut();
  showSignIn(`Signed out: the API refused the key (${message}).`);
});

$('signin-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = /** @type {HTMLInputElement} */ ($('api-key'));
  const key = input.value.trim();
  const button = /** @type {HTMLButtonElement} */ (event.target.querySelector('button'));
  button.disabled = true;
  signIn(key)
    .then(() => {
      input.value = '';
    })
    .catch((error) => {
      const message =
        error instanceof ApiError && error.status === 401
          ? 'That key is not accepted (401). Check it and try again.'
          : error instanceof ApiError
            ? `${error.message} (${error.status} ${error.code})`
            : String(error);
      showSignIn(message);
    })
    .finally(() => {
      button.disabled = false;
    });
});

$('sign-out').addEventListener('click', () => {
  session.signOut();
  void forgetQueueBoardKey();
  showSignIn();
});

window.addEventListener('hashchange', () => route());

if (session.key()) void start();
else showSignIn();
