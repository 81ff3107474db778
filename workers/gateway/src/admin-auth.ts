/**
 * The admin API's door: the ADMIN_TOKEN secret (compared in constant time) or a `platform`-purpose
 * key. Inference keys are refused with 403. What the caller may do once inside is decided by the
 * admin router from the key owner's roles (the admin token acts as platform manager).
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { constantTimeEqual, hashApiKey } from "../../../shared/api-keys.ts";
import { ApiError } from "../../../shared/errors.ts";
import { authenticateKeyOnly, bearerToken, RequestDb } from "./access.ts";
import type { GatewayApp } from "./types.ts";

export interface AdminPrincipal {
  via: "admin_token" | "platform_key";
  userId: string | null;
  apiKeyId: string | null;
}

export async function authenticateAdmin(c: Context<GatewayApp>): Promise<AdminPrincipal> {
  const token = bearerToken(c.req.header("authorization"));
  if (!token) throw new ApiError("invalid_api_key", "Missing credentials. Send 'Authorization: Bearer <ADMIN_TOKEN or platform key>'.");
  const adminToken = c.get("config").ADMIN_TOKEN;
  if (adminToken && (await constantTimeEqual(token, adminToken))) {
    return { via: "admin_token", userId: null, apiKeyId: null };
  }
  const db = new RequestDb(c.get("config"));
  try {
    const key = await authenticateKeyOnly(await hashApiKey(token), db, c.get("config"));
    if (!key) throw new ApiError("invalid_api_key", "Incorrect credentials, or the key has been deleted.");
    if (key.purpose !== "platform") {
      throw new ApiError("permission_denied", "Inference keys cannot call the admin API; use a platform key or the admin token.");
    }
    return { via: "platform_key", userId: key.userId, apiKeyId: key.id };
  } finally {
    db.close((p) => c.executionCtx.waitUntil(p));
  }
}

export const requireAdmin = createMiddleware<GatewayApp>(async function requireAdmin(c, next) {
  c.set("admin", await authenticateAdmin(c));
  await next();
});
