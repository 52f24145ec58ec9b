/**
 * The `/v1` client. The key lives in this tab's `sessionStorage` only and goes out as a Bearer header:
 * no cookie is ever set, so another site cannot make the browser act with it (no CSRF).
 */

const KEY_ITEM = 'quiver.apiKey';

/** An API error: the HTTP status and the API's stable `code` and message. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const session = {
  /** @returns {string | null} */
  key: () => sessionStorage.getItem(KEY_ITEM),
  /** @param {string} key */
  signIn: (key) => sessionStorage.setItem(KEY_ITEM, key),
  signOut: () => sessionStorage.removeItem(KEY_ITEM),
};

/** Called when the API refuses the key (401): the app goes back to the sign-in form. */
let onUnauthenticated = () => {};
export function whenUnauthenticated(handler) {
  onUnauthenticated = handler;
}

/**
 * A `/v1` call with the session's key.
 *
 * @param {string} path `/v1/...`, query included.
 * @param {{ method?: string, key?: string, signal?: AbortSignal }} [options] `key` overrides the session's
 *   (the sign-in check).
 * @returns {Promise<any>} The parsed JSON body.
 * @throws {ApiError}
 */
export async function api(path, options = {}) {
  const key = options.key ?? session.key();
  const method = options.method ?? 'GET';
  const headers = { accept: 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  // Actions take an empty JSON object (the API refuses an empty body sent as JSON).
  const body = method === 'GET' ? undefined : '{}';
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, { method, headers, body, signal: options.signal, credentials: 'omit' });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError(
      0,
      'NETWORK',
      `The API cannot be reached (${error instanceof Error ? error.message : error})`,
    );
  }
  const text = await response.text();
  let json;
  try {
    json = text === '' ? {} : JSON.parse(text);
  } catch {
    json = {};
  }
  if (!response.ok) {
    const code = json?.error?.code ?? `HTTP_${response.status}`;
    const message = json?.error?.message ?? response.statusText;
    if (response.status === 401 && options.key === undefined) onUnauthenticated(message);
    throw new ApiError(response.status, code, message);
  }
  return json;
}

/** A query string from the defined entries of `params` (arrays repeat the name). */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    for (const v of Array.isArray(value) ? value : [value]) search.append(name, String(v));
  }
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}
