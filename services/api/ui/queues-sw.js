/**
 * The queue board's key carrier, a service worker scoped to `/ui/queues/`. A browser sends no Bearer
 * header when it loads a page, so bull-board's page, scripts and API calls would all be refused; this
 * worker adds `Authorization: Bearer <key>` to the same-origin requests in its scope. The key is held in
 * memory only: the dashboard posts it after an admin sign-in, and when the browser has stopped and
 * restarted this worker it asks the dashboard's window again. Nothing is written to any storage.
 */

/** @type {string | null} */
let key = null;
const scopePath = new URL(self.registration.scope).pathname;

self.addEventListener('install', () => {
  void self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener('message', (event) => {
  const data = event.data ?? {};
  if (data.type === 'key' && typeof data.key === 'string') key = data.key;
  if (data.type === 'forget') key = null;
  event.ports[0]?.postMessage({ ok: true });
});

/** The key from a dashboard window of this origin (outside the board), or null when none answers. */
async function askDashboard() {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const dashboards = windows.filter((client) => !new URL(client.url).pathname.startsWith(scopePath));
  const answers = dashboards.map(
    (client) =>
      new Promise((resolve) => {
        const channel = new MessageChannel();
        channel.port1.onmessage = (message) => resolve(message.data?.key ?? null);
        client.postMessage({ type: 'key-request' }, [channel.port2]);
        setTimeout(() => resolve(null), 1_000);
      }),
  );
  for (const answer of answers) {
    const found = await answer;
    if (typeof found === 'string' && found !== '') return found;
  }
  return null;
}

async function withKey(request) {
  key ??= await askDashboard();
  // Without a key the request goes as it is, and the API refuses it (401).
  if (key === null) return fetch(request);
  const headers = new Headers(request.headers);
  headers.set('authorization', `Bearer ${key}`);
  // A same-origin request made as `no-cors` (a page's scripts and styles) would drop the header, and a
  // navigation cannot be re-made as one: both go as `same-origin`, which they are.
  return fetch(new Request(request, { headers, credentials: 'omit', mode: 'same-origin' }));
}

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== self.location.origin || !url.pathname.startsWith(scopePath)) return;
  event.respondWith(withKey(event.request));
});
