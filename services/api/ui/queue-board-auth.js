/**
 * Hands the signed-in admin key to the queue board's service worker (`queues-sw.js`), so that bull-board
 * under `/ui/queues/` can be loaded with it, and answers the worker when it asks for the key again.
 */
import { session } from './api.js';

const SCOPE = '/ui/queues/';
const SCRIPT = '/ui/queues-sw.js';

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.addEventListener('message', (event) => {
    if (event.data?.type !== 'key-request') return;
    event.ports[0]?.postMessage({ key: session.key() });
  });
  navigator.serviceWorker.startMessages();
}

/** The registration's worker once it is active. */
function activeWorker(registration) {
  if (registration.active) return Promise.resolve(registration.active);
  const pending = registration.installing ?? registration.waiting;
  return new Promise((resolve, reject) => {
    if (!pending) return reject(new Error('the queue board worker did not install'));
    pending.addEventListener('statechange', () => {
      if (pending.state === 'activated') resolve(pending);
      if (pending.state === 'redundant') reject(new Error('the queue board worker was replaced'));
    });
  });
}

/** Posts `message` to `worker` and waits for its acknowledgement. */
function post(worker, message) {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve(undefined);
    worker.postMessage(message, [channel.port2]);
  });
}

/**
 * Registers the worker (once per browser profile) and gives it `key`. Resolves when requests under
 * `/ui/queues/` will carry the key.
 *
 * @param {string} key
 */
export async function authorizeQueueBoard(key) {
  if (!('serviceWorker' in navigator)) {
    throw new Error(
      'this browser runs no service workers here (a private window, or not https), so the queue board cannot be shown',
    );
  }
  const registration = await navigator.serviceWorker.register(SCRIPT, { scope: SCOPE });
  await post(await activeWorker(registration), { type: 'key', key });
}

/** Makes the worker drop the key it holds (sign-out). */
export async function forgetQueueBoardKey() {
  if (!('serviceWorker' in navigator)) return;
  const registration = await navigator.serviceWorker.getRegistration(SCOPE);
  if (registration?.active) await post(registration.active, { type: 'forget' });
}
