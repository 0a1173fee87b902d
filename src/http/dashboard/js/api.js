// The admin API from the page: every call carries the token kept in sessionStorage as
// `Authorization: Bearer`. A 401 signs the page out (app.js listens for it).
const KEY = 'hermod.token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

let onUnauthorized = () => {};
export function setUnauthorizedHandler(f) { onUnauthorized = f; }

// Resolves to the parsed JSON body; rejects with an ApiError (status 0: the broker did not answer).
export async function api(method, path, body, given) {
  const headers = { Authorization: `Bearer ${given ?? token.get() ?? ''}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store', credentials: 'omit',
    });
  } catch (e) {
    throw new ApiError(0, 'network', `the broker did not answer (${e.message})`);
  }
  let data = null;
  try { data = await response.json(); } catch { /* not JSON: the message below says so */ }
  if (!response.ok) {
    const code = data?.error ?? 'http';
    const message = data?.message ?? `HTTP ${response.status}`;
    const err = new ApiError(response.status, code, message);
    if (response.status === 401 && given === undefined) onUnauthorized(err);
    throw err;
  }
  return data;
}
