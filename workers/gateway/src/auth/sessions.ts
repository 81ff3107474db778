/**
 * Console sessions: an opaque random token in the `tollgate_session` cookie (HttpOnly, Secure,
 * SameSite=Strict), stored only as its SHA-256 in `sessions`. A session is honoured while it is
 * unrevoked and unexpired, its user is live, and — for a sign-in with a platform key — that key is
 * undeleted; an ADMIN_TOKEN sign-in also ends when the ADMIN_TOKEN secret changes.
 *
 * A cookie is sent by the browser on its own, so every call it authenticates must prove it comes
 * from the console's own pages (`requireSameOrigin`, `requireCsrfHeader`).
 */
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { hashToken, hmacHex, newSecretToken, timingSafeEqualText } from "../../../../shared/auth/tokens.ts";
import { ApiError } from "../../../../shared/errors.ts";
import type { SqlClient } from "../../../../shared/sql/client.ts";

export const SESSION_COOKIE = "tollgate_session";
export const CSRF_HEADER = "x-tollgate-csrf";

/** The built-in user the ADMIN_TOKEN acts as (created by a migration; never deleted, no password). */
export const SYSTEM_USER_ID = "00000000-0000-0000-0000-000000000000";

export const SIGN_IN_METHODS = ["admin_token", "platform_key", "password", "access"] as const;
export type SignInVia = (typeof SIGN_IN_METHODS)[number];

export interface Session {
  id: string;
  userId: string;
  via: SignInVia;
  apiKeyId: string | null;
  expiresAt: Date;
}

export interface NewSession {
  userId: string;
  via: SignInVia;
  apiKeyId?: string | null;
  /** The ADMIN_TOKEN, for an `admin_token` sign-in (bound to it, never stored). */
  adminToken?: string;
  userAgent?: string | null;
}

/** Binds an ADMIN_TOKEN session to the secret, keyed by the session token so the row alone reveals nothing. */
const secretCheck = (sessionToken: string, adminToken: string) => hmacHex(sessionToken, `tollgate-admin-token:${adminToken}`);

/** Ended sessions (expired or revoked) are kept this long as a record of who signed in, then purged. */
export const ENDED_SESSION_RETENTION_DAYS = 30;
/** At most this many old sessions and old failed sign-ins are purged per sign-in. */
export const PURGE_BATCH = 100;

/**
 * Starts a session. The same statement purges a bounded batch of what no check reads any more:
 * sessions ended more than ENDED_SESSION_RETENTION_DAYS ago, failed password sign-ins older than
 * the guess-throttle window, and set-password links and organization invitations used or expired
 * more than ENDED_SESSION_RETENTION_DAYS ago (only open ones are ever read; the rest are kept that
 * long as a record of who was invited or handed a link). Sign-ins outnumber the rows they leave behind, so the batches keep up without a
 * scheduled job, and no sign-in pays for a backlog.
 */
export async function createSession(db: SqlClient, input: NewSession, ttlHours: number, failureWindowMinutes: number): Promise<{ token: string; session: Session }> {
  const token = newSecretToken();
  const check = input.via === "admin_token" ? await secretCheck(token, input.adminToken ?? "") : null;
  const { rows } = await db.query<{ id: string; expires_at: Date | string }>(
    `WITH old_sessions AS (
       DELETE FROM sessions WHERE id IN (
         SELECT id FROM sessions WHERE coalesce(revoked_at, expires_at) < now() - make_interval(days => $8::int) LIMIT $10::int)
     ), old_failures AS (
       DELETE FROM sign_in_failures WHERE id IN (
         SELECT id FROM sign_in_failures WHERE failed_at < now() - make_interval(mins => $9::int) LIMIT $10::int)
     ), old_password_links AS (
       DELETE FROM password_tokens WHERE id IN (
         SELECT id FROM password_tokens WHERE coalesce(used_at, expires_at) < now() - make_interval(days => $8::int) LIMIT $10::int)
     ), old_invitations AS (
       DELETE FROM organization_invitations WHERE id IN (
         SELECT id FROM organization_invitations WHERE coalesce(accepted_at, expires_at) < now() - make_interval(days => $8::int) LIMIT $10::int)
     )
     INSERT INTO sessions (token_hash, user_id, via, api_key_id, secret_check, user_agent, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(hours => $7::int)) RETURNING id, expires_at`,
    [
      await hashToken(token),
      input.userId,
      input.via,
      input.apiKeyId ?? null,
      check,
      input.userAgent?.slice(0, 300) ?? null,
      ttlHours,
      ENDED_SESSION_RETENTION_DAYS,
      failureWindowMinutes,
      PURGE_BATCH,
    ],
  );
  const row = rows[0]!;
  return { token, session: { id: row.id, userId: input.userId, via: input.via, apiKeyId: input.apiKeyId ?? null, expiresAt: new Date(row.expires_at) } };
}

/** The live session for a cookie value, or null (unknown, expired, revoked, user or key deleted, ADMIN_TOKEN changed). */
export async function findSession(db: SqlClient, token: string, adminToken: string | undefined): Promise<Session | null> {
  if (token.length > 200) return null;
  const { rows } = await db.query<{ id: string; user_id: string; via: SignInVia; api_key_id: string | null; expires_at: Date | string; secret_check: string | null }>(
    `SELECT s.id, s.user_id, s.via, s.api_key_id, s.expires_at, s.secret_check
       FROM sessions s JOIN users u ON u.id = s.user_id AND u.deleted_at IS NULL
       LEFT JOIN api_keys k ON k.id = s.api_key_id
      WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
        AND (s.api_key_id IS NULL OR (NOT k.is_deleted AND k.purpose = 'platform'))`,
    [await hashToken(token)],
  );
  const row = rows[0];
  if (!row) return null;
  if (row.via === "admin_token" && (!adminToken || !row.secret_check || !timingSafeEqualText(row.secret_check, await secretCheck(token, adminToken)))) return null;
  return { id: row.id, userId: row.user_id, via: row.via, apiKeyId: row.api_key_id, expiresAt: new Date(row.expires_at) };
}

export async function revokeSession(db: SqlClient, sessionId: string): Promise<void> {
  await db.query("UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", [sessionId]);
}

/** Ends every session of a user (password changed or reset), except `keep` if given. */
export async function revokeUserSessions(db: SqlClient, userId: string, keep: string | null = null): Promise<void> {
  await db.query("UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2::uuid", [userId, keep]);
}

export function sessionCookie(c: Context): string | undefined {
  return getCookie(c, SESSION_COOKIE);
}

export function setSessionCookie(c: Context, token: string, expiresAt: Date): void {
  const maxAge = Math.max(0, Math.floor((expiresAt.getTime() - Date.now()) / 1000));
  setCookie(c, SESSION_COOKIE, token, { httpOnly: true, secure: true, sameSite: "Strict", path: "/", maxAge });
}

/** The Set-Cookie value that removes the session cookie (for responses built outside Hono's context). */
export const CLEARED_SESSION_COOKIE = `${SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Strict`;

export function clearSessionCookie(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { httpOnly: true, secure: true, sameSite: "Strict", path: "/" });
}

/**
 * Refuses a request whose `Origin` (when the browser sends one) is not this gateway's own origin:
 * a page elsewhere must not act with the console's cookie, nor plant a session of its choosing.
 */
export function requireSameOrigin(c: Context): void {
  const origin = c.req.header("origin");
  if (origin === undefined) return;
  if (origin !== new URL(c.req.url).origin) {
    throw new ApiError("permission_denied", "Cross-origin request refused: the console's session works only from the gateway's own origin.");
  }
}

/**
 * CSRF protection for cookie-authenticated calls: the same-origin check plus a custom header,
 * which a cross-site form or image cannot send and a cross-site script can send only after a
 * CORS preflight this gateway never approves.
 */
export function requireCsrfHeader(c: Context): void {
  requireSameOrigin(c);
  if (c.req.header(CSRF_HEADER) !== "1") {
    throw new ApiError("permission_denied", "Requests authenticated by the session cookie must send the header 'X-Tollgate-Csrf: 1'.", { param: "X-Tollgate-Csrf" });
  }
}
