/**
 * The console's sign-in endpoints under `/admin/auth` (outside the admin API's door, which they
 * open): configuration, sign-in with a token or email + password, the current session (or a
 * Cloudflare Access sign-in), sign-out, and setting a password. See docs/auth.md.
 */
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import * as z from "zod";
import { constantTimeEqual, hashApiKey } from "../../../../shared/api-keys.ts";
import { burnPasswordCheck, hashPassword, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, verifyPassword } from "../../../../shared/auth/passwords.ts";
import { hashToken } from "../../../../shared/auth/tokens.ts";
import { type Pool, withConnection, withTransaction } from "../../../../shared/db.ts";
import { ApiError } from "../../../../shared/errors.ts";
import type { SqlClient } from "../../../../shared/sql/client.ts";
import { authenticateKeyOnly } from "../access.ts";
import { findUser, type UserView } from "../admin/users.ts";
import { parseBody } from "../admin/validation.ts";
import type { GatewayApp } from "../types.ts";
import { ACCESS_ASSERTION_HEADER, accessUser, verifyAccessAssertion } from "./access-sso.ts";
import {
  clearSessionCookie,
  createSession,
  findSession,
  requireCsrfHeader,
  requireSameOrigin,
  revokeSession,
  revokeUserSessions,
  sessionCookie,
  setSessionCookie,
  SYSTEM_USER_ID,
  type NewSession,
  type Session,
  CLEARED_SESSION_COOKIE,
} from "./sessions.ts";

export interface AuthApp {
  Bindings: GatewayApp["Bindings"];
  Variables: GatewayApp["Variables"] & { db: Pool };
}

const MAX_AUTH_BODY_BYTES = 16 * 1024;

const Password = z
  .string()
  .min(PASSWORD_MIN_LENGTH, { error: `must be at least ${PASSWORD_MIN_LENGTH} characters` })
  .max(PASSWORD_MAX_LENGTH, { error: `must be at most ${PASSWORD_MAX_LENGTH} characters` });

const SignIn = z.strictObject({
  token: z.string().min(1).max(1000).optional(),
  email: z.string().trim().min(1).max(320).optional(),
  password: z.string().min(1).max(PASSWORD_MAX_LENGTH).optional(),
});

const SetPassword = z.strictObject({
  token: z.string().min(1).max(200).optional().describe("The one-time token from a set-password link"),
  current_password: z.string().min(1).max(PASSWORD_MAX_LENGTH).optional().describe("Changing your own password while signed in"),
  password: Password,
});

/** The pool of the request's database handle (init.ts closes it). */
const authContext = createMiddleware<AuthApp>(async function authContext(c, next) {
  c.set("db", c.get("database").get());
  await next();
});

export function authRouter(): Hono<AuthApp> {
  const auth = new Hono<AuthApp>();
  auth.use(
    "*",
    bodyLimit({
      maxSize: MAX_AUTH_BODY_BYTES,
      onError: () => {
        throw new ApiError("request_too_large", `The request body is larger than the ${MAX_AUTH_BODY_BYTES}-byte limit.`);
      },
    }),
    authContext,
  );
  auth.get("/config", authConfig);
  auth.post("/sign-in", signIn);
  auth.get("/session", currentSession);
  auth.post("/sign-out", signOut);
  auth.post("/password", setPassword);
  return auth;
}

function authConfig(c: Context<AuthApp>): Response {
  const access = c.get("config").access;
  return c.json({ password: true, access: { enabled: access !== null, team_domain: access?.teamDomain ?? null } });
}

async function userView(db: SqlClient, userId: string): Promise<UserView> {
  const user = await findUser(db, userId);
  if (!user) throw new ApiError("invalid_credentials", "This account no longer exists.");
  return user;
}

/** Starts a session, sets its cookie and answers with who is signed in. */
async function startSession(c: Context<AuthApp>, input: NewSession, db: SqlClient = c.get("db")): Promise<Response> {
  const { token, session } = await createSession(db, { ...input, userAgent: c.req.header("user-agent") ?? null }, c.get("config").SESSION_TTL_HOURS, SIGN_IN_FAILURE_WINDOW_MINUTES);
  setSessionCookie(c, token, session.expiresAt);
  return sessionResponse(c, session, await userView(db, session.userId));
}

function sessionResponse(c: Context<AuthApp>, session: Session, user: UserView): Response {
  c.header("cache-control", "no-store");
  return c.json({ user, via: session.via, expires_at: session.expiresAt.toISOString() });
}

const BAD_PASSWORD = "Incorrect email or password.";

/** Password guesses allowed per email within the window; then 429 until the oldest one ages out. */
export const MAX_SIGN_IN_FAILURES = 10;
export const SIGN_IN_FAILURE_WINDOW_MINUTES = 15;

/**
 * 429 while this email has had too many failed password sign-ins recently. Checked before the
 * PBKDF2 work, so a guessing run also stops costing CPU. (Someone can lock an account out for the
 * window this way; a token or Access sign-in still works meanwhile.)
 */
async function throttlePasswordGuesses(db: SqlClient, subject: string): Promise<void> {
  const { rows } = await db.query<{ n: number; retry: number | null }>(
    `SELECT count(*)::int AS n,
            ceil(extract(epoch FROM min(failed_at) + make_interval(mins => $2::int) - now()))::int AS retry
       FROM sign_in_failures WHERE subject = $1 AND failed_at > now() - make_interval(mins => $2::int)`,
    [subject, SIGN_IN_FAILURE_WINDOW_MINUTES],
  );
  const row = rows[0];
  if (row && row.n >= MAX_SIGN_IN_FAILURES) {
    const retry = Math.max(1, row.retry ?? 60);
    throw new ApiError("rate_limit_exceeded", `Too many failed sign-ins for this email. Try again in ${Math.ceil(retry / 60)} minute(s), or sign in another way.`, {
      headers: { "retry-after": String(retry) },
    });
  }
}

async function recordPasswordFailure(db: SqlClient, subject: string): Promise<void> {
  await db.query(
    `WITH gone AS (DELETE FROM sign_in_failures WHERE subject = $1 AND failed_at <= now() - make_interval(mins => $2::int))
     INSERT INTO sign_in_failures (subject) VALUES ($1)`,
    [subject, SIGN_IN_FAILURE_WINDOW_MINUTES],
  );
}

async function signIn(c: Context<AuthApp>): Promise<Response> {
  // No CSRF header is needed to create a session, but a foreign page must not plant one.
  requireSameOrigin(c);
  const input = await parseBody(c, SignIn);
  const config = c.get("config");
  if (input.token !== undefined && input.email === undefined && input.password === undefined) {
    if (config.ADMIN_TOKEN && (await constantTimeEqual(input.token, config.ADMIN_TOKEN))) {
      return startSession(c, { userId: SYSTEM_USER_ID, via: "admin_token", adminToken: config.ADMIN_TOKEN });
    }
    const key = await authenticateKeyOnly(await hashApiKey(input.token), c.get("database"), config);
    if (!key) throw new ApiError("invalid_credentials", "Incorrect token: it is neither the admin token nor a live platform key.", { param: "token" });
    if (key.purpose !== "platform") {
      throw new ApiError("permission_denied", `This is a ${key.purpose} key, which cannot sign in to the console; use a platform key, the admin token, or your email and password.`, { param: "token" });
    }
    return await startSession(c, { userId: key.userId, via: "platform_key", apiKeyId: key.id });
  }
  if (input.token === undefined && input.email !== undefined && input.password !== undefined) {
    const userId = await checkPassword(c.get("db"), input.email, input.password);
    return startSession(c, { userId, via: "password" });
  }
  throw new ApiError("invalid_request_error", "Send either {\"token\": …} or {\"email\": …, \"password\": …}.");
}

/** The user whose email and password these are; 401 otherwise (in the same time either way). */
async function checkPassword(db: SqlClient, email: string, password: string): Promise<string> {
  const subject = await hashToken(`email:${email.toLowerCase()}`);
  await throttlePasswordGuesses(db, subject);
  const { rows } = await db.query<{ id: string; hash: string | null }>(
    `SELECT u.id, p.hash FROM users u LEFT JOIN user_passwords p ON p.user_id = u.id
      WHERE lower(u.email) = lower($1) AND u.deleted_at IS NULL AND u.user_type = 'individual'
      ORDER BY u.email = $1 DESC, p.hash IS NOT NULL DESC LIMIT 1`,
    [email],
  );
  const row = rows[0];
  if (!row?.hash) {
    await burnPasswordCheck(password);
    await recordPasswordFailure(db, subject);
    throw new ApiError("invalid_credentials", BAD_PASSWORD);
  }
  const check = await verifyPassword(password, row.hash);
  if (!check.ok) {
    await recordPasswordFailure(db, subject);
    throw new ApiError("invalid_credentials", BAD_PASSWORD);
  }
  await db.query("DELETE FROM sign_in_failures WHERE subject = $1", [subject]);
  if (check.needsRehash) {
    await db.query("UPDATE user_passwords SET hash = $2, updated_at = now() WHERE user_id = $1", [row.id, await hashPassword(password)]);
  }
  return row.id;
}

async function currentSession(c: Context<AuthApp>): Promise<Response> {
  const config = c.get("config");
  const db = c.get("db");
  const cookie = sessionCookie(c);
  if (cookie) {
    const session = await findSession(db, cookie, config.ADMIN_TOKEN);
    if (session) return sessionResponse(c, session, await userView(db, session.userId));
  }
  const assertion = c.req.header(ACCESS_ASSERTION_HEADER);
  if (config.access && assertion) {
    const email = await verifyAccessAssertion(assertion, config.access);
    const defaultRole = config.access.defaultRole;
    return await withConnection(c.get("db"), async (client) => {
      const userId = await accessUser(client, email, defaultRole);
      return startSession(c, { userId, via: "access" }, client);
    });
  }
  // A stale cookie is cleared, so the browser stops sending it.
  throw new ApiError("invalid_credentials", "Not signed in: no live console session.", { headers: cookie ? { "set-cookie": CLEARED_SESSION_COOKIE } : {} });
}

async function signOut(c: Context<AuthApp>): Promise<Response> {
  const cookie = sessionCookie(c);
  if (cookie) {
    requireCsrfHeader(c);
    const session = await findSession(c.get("db"), cookie, c.get("config").ADMIN_TOKEN);
    if (session) await revokeSession(c.get("db"), session.id);
  }
  clearSessionCookie(c);
  return c.body(null, 204);
}

/**
 * Sets a password: with the one-time token of a set-password link (which then signs the user
 * in), or — signed in — with the current password. Either way every other session of the user
 * ends.
 */
async function setPassword(c: Context<AuthApp>): Promise<Response> {
  requireSameOrigin(c);
  const input = await parseBody(c, SetPassword);
  if (input.token !== undefined) return setPasswordWithLink(c, input.token, input.password);
  if (input.current_password !== undefined) return changePassword(c, input.current_password, input.password);
  throw new ApiError("invalid_request_error", "Send the link's 'token', or your 'current_password' while signed in.", { param: "token" });
}

const BAD_LINK = "This set-password link is invalid, expired or already used. Ask a manager for a new one.";

async function setPasswordWithLink(c: Context<AuthApp>, token: string, password: string): Promise<Response> {
  const hash = await hashPassword(password);
  const tokenHash = await hashToken(token);
  const userId = await withTransaction(c.get("db"), async (client) => {
    // Consuming the link is the first write, so two concurrent uses cannot both succeed.
    const { rows } = await client.query<{ user_id: string }>(
      `UPDATE password_tokens t SET used_at = now()
         FROM users u
        WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > now()
          AND u.id = t.user_id AND u.deleted_at IS NULL AND u.user_type = 'individual' AND u.id <> $2
        RETURNING t.user_id`,
      [tokenHash, SYSTEM_USER_ID],
    );
    const id = rows[0]?.user_id;
    if (!id) throw new ApiError("invalid_credentials", BAD_LINK, { param: "token" });
    await client.query(
      `INSERT INTO user_passwords (user_id, hash) VALUES ($1, $2)
       ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, updated_at = now()`,
      [id, hash],
    );
    await revokeUserSessions(client, id);
    return id;
  });
  return await startSession(c, { userId, via: "password" });
}

async function changePassword(c: Context<AuthApp>, current: string, password: string): Promise<Response> {
  const cookie = sessionCookie(c);
  if (!cookie) throw new ApiError("invalid_credentials", "Sign in first to change your password, or use a set-password link.");
  requireCsrfHeader(c);
  const db = c.get("db");
  const session = await findSession(db, cookie, c.get("config").ADMIN_TOKEN);
  if (!session) throw new ApiError("invalid_credentials", "Your console session has ended. Sign in again.");
  const { rows } = await db.query<{ hash: string }>("SELECT hash FROM user_passwords WHERE user_id = $1", [session.userId]);
  const stored = rows[0]?.hash;
  if (!stored) {
    await burnPasswordCheck(current);
    throw new ApiError("invalid_request_error", "This account has no password yet; a manager can send you a set-password link.", { param: "current_password" });
  }
  if (!(await verifyPassword(current, stored)).ok) throw new ApiError("invalid_credentials", "The current password is incorrect.", { param: "current_password" });
  const hash = await hashPassword(password);
  await withTransaction(db, async (client) => {
    await client.query("UPDATE user_passwords SET hash = $2, updated_at = now() WHERE user_id = $1", [session.userId, hash]);
    await revokeUserSessions(client, session.userId, session.id);
  });
  return sessionResponse(c, session, await userView(db, session.userId));
}
