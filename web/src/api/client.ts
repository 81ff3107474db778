/**
 * The console's API client: openapi-fetch typed from the admin OpenAPI document
 * (`npm run web:types`). Every call is same-origin with the session cookie, carries the CSRF
 * header the admin API asks of cookie-authenticated calls, and the organization the user acts for.
 */
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./admin-schema";

export type Schemas = components["schemas"];

/** The error envelope every Tollgate error answers with, surfaced as an Error. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

const ORG_KEY = "tollgate.org";
let organizationId: string | null = localStorage.getItem(ORG_KEY);
/**
 * A bearer token held in memory only: used when the gateway predates cookie sessions
 * (`/admin/auth/*` answers 404), so a token sign-in still works. Never persisted.
 */
let bearerToken: string | null = null;
let onUnauthorized: (() => void) | null = null;

const organizationListeners = new Set<() => void>();

export function currentOrganization(): string | null {
  return organizationId;
}
export function setOrganization(id: string | null): void {
  organizationId = id;
  if (id) localStorage.setItem(ORG_KEY, id);
  else localStorage.removeItem(ORG_KEY);
  for (const fn of organizationListeners) fn();
}
/** For useSyncExternalStore: the switcher follows changes made elsewhere (accepting an invitation). */
export function subscribeOrganization(fn: () => void): () => void {
  organizationListeners.add(fn);
  return () => organizationListeners.delete(fn);
}
export function setBearerToken(token: string | null): void {
  bearerToken = token;
}
export function hasBearerToken(): boolean {
  return bearerToken !== null;
}
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

/** Headers every console call to /admin carries. */
export function adminHeaders(withOrganization = true): Record<string, string> {
  const h: Record<string, string> = { "X-Tollgate-Csrf": "1" };
  if (bearerToken) h.Authorization = `Bearer ${bearerToken}`;
  if (withOrganization && organizationId) h["X-Organization-Id"] = organizationId;
  return h;
}

const headersMiddleware: Middleware = {
  onRequest({ request }) {
    for (const [k, v] of Object.entries(adminHeaders())) request.headers.set(k, v);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401) onUnauthorized?.();
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: "", credentials: "same-origin" });
api.use(headersMiddleware);

interface Envelope {
  error?: { message?: string; code?: string | null; param?: string | null };
}

export async function errorFrom(res: Response): Promise<ApiError> {
  let body: Envelope = {};
  try {
    body = (await res.json()) as Envelope;
  } catch {
    // not JSON
  }
  return new ApiError(res.status, body.error?.message ?? `${res.status} ${res.statusText}`, body.error?.code ?? null, body.error?.param ?? null);
}

/** openapi-fetch's result → the data, or a thrown ApiError carrying the server's message. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error !== undefined || !result.response.ok) {
    const e = result.error as Envelope | undefined;
    throw new ApiError(result.response.status, e?.error?.message ?? `${result.response.status} ${result.response.statusText}`, e?.error?.code ?? null, e?.error?.param ?? null);
  }
  return result.data as T;
}

/**
 * A call outside the generated document (auth endpoints, endpoints newer than the committed
 * types): the body is parsed by the caller's zod schema.
 */
export async function call<T>(method: string, path: string, parse: (v: unknown) => T, body?: unknown, opts: { organization?: boolean } = {}): Promise<T> {
  const res = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: { ...adminHeaders(opts.organization ?? true), ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (!res.ok) {
    if (res.status === 401 && !path.startsWith("/admin/auth/")) onUnauthorized?.();
    throw await errorFrom(res);
  }
  if (res.status === 204) return parse(null);
  return parse(await res.json());
}
