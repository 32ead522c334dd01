// JSON calls to the API with the session cookie and the CSRF header.

export class ApiError extends Error {
  constructor(status, body) {
    super(describe(status, body));
    this.status = status;
    this.fields = (body && body.fields) || {};
  }
}

function describe(status, body) {
  const base = (body && body.error) || `Request failed (${status})`;
  const fields = body && body.fields ? flatten(body.fields) : [];
  return fields.length ? `${base} — ${fields.join("; ")}` : base;
}

function flatten(fields, prefix = "") {
  const out = [];
  for (const [name, value] of Object.entries(fields)) {
    const path = prefix ? (/^\d+$/.test(name) ? `${prefix}[${name}]` : `${prefix}.${name}`) : name;
    if (Array.isArray(value) && value.every((v) => typeof v === "string")) out.push(`${path}: ${value.join(" ")}`);
    else if (Array.isArray(value)) value.forEach((v, i) => v && typeof v === "object" && out.push(...flatten(v, `${path}[${i}]`)));
    else if (value && typeof value === "object") out.push(...flatten(value, path));
    else out.push(`${path}: ${value}`);
  }
  return out;
}

/** The CSRF token of the page (base.html), for requests made without `api` (an upload with progress). */
export const csrfToken = () => document.body.dataset.csrf || "";

/** `await api("POST", "/api/tasks/next/?project=1")` → parsed JSON, or null on 204. A FormData body goes as
 * multipart (the browser sets its boundary), anything else as JSON. */
export async function api(method, url, body = undefined, { keepalive = false } = {}) {
  const headers = { Accept: "application/json" };
  const form = body instanceof FormData;
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined && !form) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined || form ? body : JSON.stringify(body),
    credentials: "same-origin",
    keepalive,
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
