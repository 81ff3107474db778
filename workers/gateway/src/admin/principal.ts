/**
 * Who is acting on the admin API, and what they may touch.
 *
 * The door (`requireAdmin`) has already established *how* the caller authenticated. Here a
 * platform key takes on its owner's roles from `user_roles`; the ADMIN_TOKEN is a platform
 * manager. An owner with no roles at all is a standard user: a missing row must never grant more.
 *
 * Managers (platform_manager) see and change everything. Everyone else sees and changes only their
 * own user and keys; another owner's resource answers 404 exactly as a missing one does, so ids
 * cannot be probed.
 */
import { createMiddleware } from "hono/factory";
import type { Pool } from "../../../../shared/db.ts";
import { ApiError } from "../../../../shared/errors.ts";
import { RequestDb } from "../access.ts";
import type { AdminPrincipal } from "../admin-auth.ts";
import type { GatewayApp } from "../types.ts";
import { notFound } from "./validation.ts";

export const ROLES = ["platform_manager", "billing_manager", "request_viewer", "standard_user"] as const;
export type Role = (typeof ROLES)[number];

export interface Actor {
  via: AdminPrincipal["via"];
  /** Null for the ADMIN_TOKEN, which is nobody in `users`. */
  userId: string | null;
  apiKeyId: string | null;
  roles: Role[];
  isManager: boolean;
}

/** Hono generics for the admin router: the gateway's, plus the actor and the request's pool. */
export interface AdminApp {
  Bindings: GatewayApp["Bindings"];
  Variables: GatewayApp["Variables"] & { actor: Actor; db: Pool };
}

const isRole = (r: string): r is Role => (ROLES as readonly string[]).includes(r);

export async function resolveActor(admin: AdminPrincipal, pool: Pool): Promise<Actor> {
  if (admin.via === "admin_token" || admin.userId === null) {
    return { via: admin.via, userId: null, apiKeyId: admin.apiKeyId, roles: ["platform_manager"], isManager: true };
  }
  const { rows } = await pool.query<{ role: string | null }>(
    `SELECT r.role FROM users u LEFT JOIN user_roles r ON r.user_id = u.id
      WHERE u.id = $1 AND u.deleted_at IS NULL`,
    [admin.userId],
  );
  // A key whose owner was deleted authenticates nobody.
  if (rows.length === 0) throw new ApiError("invalid_api_key", "Incorrect credentials, or the key has been deleted.");
  const roles = rows.map((r) => r.role).filter((r): r is string => r !== null).filter(isRole);
  if (!roles.includes("standard_user")) roles.push("standard_user");
  return { via: admin.via, userId: admin.userId, apiKeyId: admin.apiKeyId, roles, isManager: roles.includes("platform_manager") };
}

/**
 * Per request: one lazily opened pool (closed off the response path) and the actor. Mounted on the
 * admin router, after the gateway's `requireAdmin` door.
 */
export const adminContext = createMiddleware<AdminApp>(async function adminContext(c, next) {
  const db = new RequestDb(c.var.config);
  try {
    c.set("db", db.get());
    c.set("actor", await resolveActor(c.var.admin, c.var.db));
    await next();
  } finally {
    db.close((p) => c.executionCtx.waitUntil(p));
  }
});

/** Platform-wide routes (endpoints, models, the user list): managers only. */
export const managersOnly = createMiddleware<AdminApp>(async function managersOnly(c, next) {
  requireManager(c.var.actor);
  await next();
});

export function requireManager(actor: Actor): void {
  if (!actor.isManager) throw new ApiError("permission_denied", "This needs the platform_manager role.");
}

/**
 * Throws 404 unless the actor may act on `userId`'s things. The message is the one a missing user
 * gets, so a foreign id and an unknown id are indistinguishable.
 */
export function assertOwnerVisible(actor: Actor, userId: string): void {
  if (!actor.isManager && actor.userId !== userId) throw notFound("user", userId);
}
