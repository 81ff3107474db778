/**
 * The admin API's door. Scripts send `Authorization: Bearer` with the ADMIN_TOKEN secret
 * (compared in constant time; it acts as the built-in system user, a platform manager) or a
 * `platform`-purpose key (inference keys are refused with 403). The console sends its session
 * cookie instead, and with it the CSRF proof (`X-Tollgate-Csrf: 1`, same Origin). A bearer token
 * wins when both are present. What the caller may do once inside is decided by the admin router
 * from the user's roles.
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { constantTimeEqual, hashApiKey } from "../../../shared/api-keys.ts";
import { ApiError } from "../../../shared/errors.ts";
import { authenticateKeyOnly, bearerToken, type RequestDb } from "./access.ts";
import { findSession, requireCsrfHeader, sessionCookie, SYSTEM_USER_ID, type SignInVia } from "./auth/sessions.ts";
import type { GatewayConfig } from "./config.ts";
import type { GatewayApp } from "./types.ts";

/**
 * Who the admin API's caller is and how they proved it: what the door establishes. The admin
 * router turns it into the `Actor` (admin/principal.ts), the same caller with their roles.
 */
export interface Identity {
  /** How the user signed in: a bearer token on this request, or the session's sign-in. */
  via: SignInVia;
  userId: string;
  apiKeyId: string | null;
  /** The console session that authenticated the request, if any. */
  sessionId: string | null;
}

export type BearerResult = Identity & { via: "admin_token" | "platform_key" };

/**
 * Who a bearer token (ADMIN_TOKEN or a platform key) is; throws 401 for an unknown or deleted
 * key, 403 for a key of another purpose. Shared by the door and console sign-in.
 */
export async function authenticateBearer(token: string, config: GatewayConfig, db: RequestDb): Promise<BearerResult> {
  if (config.ADMIN_TOKEN && (await constantTimeEqual(token, config.ADMIN_TOKEN))) {
    return { via: "admin_token", userId: SYSTEM_USER_ID, apiKeyId: null, sessionId: null };
  }
  const key = await authenticateKeyOnly(await hashApiKey(token), db, config);
  if (!key) throw new ApiError("invalid_api_key", "Incorrect credentials, or the key has been deleted.");
  if (key.purpose !== "platform") {
    throw new ApiError("permission_denied", "Inference keys cannot call the admin API; use a platform key or the admin token.");
  }
  return { via: "platform_key", userId: key.userId, apiKeyId: key.id, sessionId: null };
}

export async function authenticateAdmin(c: Context<GatewayApp>): Promise<Identity> {
  const token = bearerToken(c.req.header("authorization"));
  const cookie = token ? undefined : sessionCookie(c);
  if (!token && !cookie) {
    throw new ApiError("invalid_api_key", "Missing credentials. Send 'Authorization: Bearer <ADMIN_TOKEN or platform key>', or sign in to the console.");
  }
  // Checked before any database work: a forged cross-site call costs nothing.
  if (cookie) requireCsrfHeader(c);
  const config = c.get("config");
  const db = c.get("database");
  if (token) return await authenticateBearer(token, config, db);
  const session = await findSession(db.get(), cookie!, config.ADMIN_TOKEN);
  if (!session) throw new ApiError("invalid_api_key", "Your console session has ended (signed out, expired or revoked). Sign in again.");
  return { via: session.via, userId: session.userId, apiKeyId: session.apiKeyId, sessionId: session.id };
}

export const requireAdmin = createMiddleware<GatewayApp>(async function requireAdmin(c, next) {
  c.set("identity", await authenticateAdmin(c));
  await next();
});
