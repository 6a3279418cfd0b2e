// The service's API, with the key of this browser session as `Authorization: Bearer`.
// The key lives in sessionStorage: gone when the tab closes, never in a URL.

const KEY_NAME = "deepfake-console.api-key";

export const session = {
  get key() {
    return sessionStorage.getItem(KEY_NAME);
  },
  signIn(key) {
    sessionStorage.setItem(KEY_NAME, key);
  },
  signOut() {
    sessionStorage.removeItem(KEY_NAME);
  },
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(path, { method = "GET", json, form, signal, key } = {}) {
  const headers = { Authorization: `Bearer ${key ?? session.key ?? ""}` };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, signal, credentials: "omit" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "network_error", "the service could not be reached");
  }
  if (response.ok) return response;
  let code = "http_error";
  let message = `${response.status} ${response.statusText}`;
  try {
    const problem = await response.json();
    code = problem.error?.code ?? code;
    message = problem.error?.message ?? message;
  } catch {
    // Not the service's JSON error: keep the status line.
  }
  if (response.status === 401 && key === undefined) {
    session.signOut();
    window.dispatchEvent(new CustomEvent("console:signed-out", { detail: message }));
  }
  throw new ApiError(response.status, code, message);
}

/** The JSON answer, or null for 204. */
export async function api(path, options) {
  const response = await request(path, options);
  return response.status === 204 ? null : response.json();
}

export async function apiBlob(path, options) {
  const response = await request(path, options);
  return { blob: await response.blob(), filename: attachmentName(response) };
}

function attachmentName(response) {
  const disposition = response.headers.get("Content-Disposition") ?? "";
  const match = /filename="?([^";]+)"?/i.exec(disposition);
  return match ? match[1] : null;
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** Saves an authenticated download under `fallbackName` (or the server's name). */
export async function download(path, fallbackName) {
  const { blob, filename } = await apiBlob(path);
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename ?? fallbackName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export const jobPath = (id) => `/v1/jobs/${encodeURIComponent(id)}`;
export const batchPath = (id) => `/v1/batches/${encodeURIComponent(id)}`;
