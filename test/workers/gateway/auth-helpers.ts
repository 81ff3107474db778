/** Helpers for the console sign-in tests (workerd): sign in, carry the cookie, call with it. */
import { SELF } from "cloudflare:test";
import { expect } from "vitest";

export const ORIGIN = "https://gateway.test";
export const SYSTEM_USER_ID = "00000000-0000-0000-0000-000000000000";

export interface SessionBody {
  user: { id: string; username: string; email: string | null; roles: string[] };
  via: "admin_token" | "platform_key" | "password" | "access";
  expires_at: string;
}

export function authCall(method: string, path: string, init: { body?: unknown; cookie?: string; headers?: Record<string, string> } = {}): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.body !== undefined) headers["content-type"] = "application/json";
  if (init.cookie) headers.cookie = `tollgate_session=${init.cookie}`;
  return SELF.fetch(`${ORIGIN}/admin/auth${path}`, {
    method,
    headers,
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
}

/** The session token a response set (asserting the cookie's security attributes). */
export function sessionCookieOf(res: Response): string {
  const header = res.headers.get("set-cookie") ?? "";
  const match = /(?:^|,\s*)tollgate_session=([^;]+);([^,]*)/.exec(header);
  expect(match, header).not.toBeNull();
  const attributes = match![2]!.toLowerCase();
  expect(attributes).toContain("httponly");
  expect(attributes).toContain("secure");
  expect(attributes).toContain("samesite=strict");
  expect(attributes).toContain("path=/");
  return match![1]!;
}

/** Signs in with `body` and returns the session cookie and the answer. */
export async function signIn(body: unknown): Promise<{ cookie: string; session: SessionBody }> {
  const res = await authCall("POST", "/sign-in", { body });
  const text = await res.clone().text();
  expect(res.status, text).toBe(200);
  return { cookie: sessionCookieOf(res), session: JSON.parse(text) as SessionBody };
}

/** An admin API call authenticated by the session cookie, as the console makes it. */
export function consoleApi(method: string, path: string, cookie: string, options: { csrf?: boolean; origin?: string | null; body?: unknown } = {}): Promise<Response> {
  const headers: Record<string, string> = { cookie: `tollgate_session=${cookie}` };
  if (options.csrf !== false) headers["x-tollgate-csrf"] = "1";
  if (options.origin !== null) headers.origin = options.origin ?? ORIGIN;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  return SELF.fetch(`${ORIGIN}/admin/api/v1${path}`, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
}
