/**
 * Who is acting on the admin API, and what they may touch.
 *
 * The door (`requireAdmin`) has already established *how* the caller authenticated and which
 * user they are. Here the user's roles come from `user_roles` (a platform key acts with its
 * owner's); the ADMIN_TOKEN is the built-in system user, a platform manager, resolved without a
 * query. A user with no roles at all is a standard user: a missing row must never grant more.
 *
 * Managers (platform_manager) see and change everything. Everyone else sees and changes only their
 * own user and keys; another owner's resource answers 404 exactly as a missing one does, so ids
 * cannot be probed.
 *
 * Organization context: an `X-Organization-Id` header (or, for the dashboard, the
 * `tollgate_org` cookie) names an organization the caller belongs to (managers may name any).
 * The caller then acts for the organization: `current` means the organization, what they create
 * belongs to it, and every list is scoped to it — for managers too.
 */
import { getCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import type { Pool } from "../../../../shared/db.ts";
import { ApiError } from "../../../../shared/errors.ts";
import type { Identity } from "../admin-auth.ts";
import type { GatewayApp } from "../types.ts";
import type { SqlClient } from "../../../../shared/sql/client.ts";
import { UUID } from "../../../../shared/uuid.ts";
import { notFound } from "./validation.ts";

import { ROLES, type Role } from "../../../../shared/roles.ts";
export { ROLES, type Role };

export interface Actor {
  via: Identity["via"];
  /** The acting user (for the ADMIN_TOKEN, the built-in system user): what `created_by` records. */
  userId: string;
  apiKeyId: string | null;
  roles: Role[];
  isManager: boolean;
  /** The organization the caller acts for (organization context), or null. */
  activeOrganization: string | null;
  /** The caller's role in that organization; null outside org context or for a manager who is not a member. */
  orgRole: OrgRole | null;
}

export const ORG_ROLES = ["owner", "admin", "member"] as const;
export type OrgRole = (typeof ORG_ROLES)[number];

/** Hono generics for the admin router: the gateway's, plus the actor and the request's pool. */
export interface AdminApp {
  Bindings: GatewayApp["Bindings"];
  Variables: GatewayApp["Variables"] & { actor: Actor; db: Pool };
}

const isRole = (r: string): r is Role => (ROLES as readonly string[]).includes(r);

export async function resolveActor(identity: Identity, pool: Pool): Promise<Actor> {
  if (identity.via === "admin_token") {
    return { via: identity.via, userId: identity.userId, apiKeyId: null, roles: ["platform_manager", "standard_user"], isManager: true, activeOrganization: null, orgRole: null };
  }
  const { rows } = await pool.query<{ role: string | null }>(
    `SELECT r.role FROM users u LEFT JOIN user_roles r ON r.user_id = u.id
      WHERE u.id = $1 AND u.deleted_at IS NULL`,
    [identity.userId],
  );
  // A key (or session) whose user was deleted authenticates nobody.
  if (rows.length === 0) throw new ApiError("invalid_api_key", "Incorrect credentials, or the key has been deleted.");
  const roles = rows.map((r) => r.role).filter((r): r is string => r !== null).filter(isRole);
  if (!roles.includes("standard_user")) roles.push("standard_user");
  return { via: identity.via, userId: identity.userId, apiKeyId: identity.apiKeyId, roles, isManager: roles.includes("platform_manager"), activeOrganization: null, orgRole: null };
}

const ORG_COOKIE = "tollgate_org";

/** The organization id the request asks to act for: the header wins over the cookie. */
export function requestedOrganization(header: string | undefined, cookie: string | undefined): string | null {
  const value = header?.trim() || cookie?.trim() || "";
  if (!value) return null;
  if (!UUID.test(value)) throw new ApiError("invalid_request_error", "X-Organization-Id must be an organization id (a UUID).", { param: "X-Organization-Id" });
  return value.toLowerCase();
}

/**
 * The actor's role in organization `orgId`: their membership role, or null for a manager who is
 * not a member. Anyone else — and any id that is not a live organization — gets the 404 a missing
 * organization gets.
 */
export async function organizationRole(db: SqlClient, actor: Actor, orgId: string): Promise<OrgRole | null> {
  const { rows } = await db.query<{ role: OrgRole | null }>(
    `SELECT m.role FROM users o LEFT JOIN user_organizations m ON m.organization_id = o.id AND m.user_id = $2
      WHERE o.id = $1 AND o.user_type = 'organization' AND o.deleted_at IS NULL`,
    [orgId, actor.userId],
  );
  const row = rows[0];
  if (!row || (row.role === null && !actor.isManager)) throw notFound("organization", orgId);
  return row.role;
}

/** Enters organization context: a member acts with their membership role; a manager may enter any. */
export async function enterOrganization(actor: Actor, orgId: string, db: SqlClient): Promise<Actor> {
  return { ...actor, activeOrganization: orgId, orgRole: await organizationRole(db, actor, orgId) };
}

/**
 * Per request: the pool of the request's database handle (init.ts closes it), the actor, and their
 * organization context. Mounted on the admin router, after the gateway's `requireAdmin` door.
 */
export const adminContext = createMiddleware<AdminApp>(async function adminContext(c, next) {
  c.set("db", c.var.database.get());
  const actor = await resolveActor(c.get("identity"), c.get("db"));
  const orgId = requestedOrganization(c.req.header("x-organization-id"), getCookie(c, ORG_COOKIE));
  c.set("actor", orgId ? await enterOrganization(actor, orgId, c.get("db")) : actor);
  await next();
});

/** Platform-wide routes (endpoints, models, the user list): managers only. */
export const managersOnly = createMiddleware<AdminApp>(async function managersOnly(c, next) {
  requireManager(c.get("actor"));
  await next();
});

export function requireManager(actor: Actor): void {
  if (!actor.isManager) throw new ApiError("permission_denied", "This needs the platform_manager role.");
}

/**
 * Throws 404 unless the actor may act on `userId`'s things: their own, their active organization's,
 * or anyone's for a manager. The message is the one a missing user gets, so a foreign id and an
 * unknown id are indistinguishable.
 */
export function assertOwnerVisible(actor: Actor, userId: string): void {
  if (!actor.isManager && actor.userId !== userId && actor.activeOrganization !== userId) throw notFound("user", userId);
}

/** Whose things `current` means: the active organization in org context, else the caller. */
export function currentOwner(actor: Actor): string | null {
  return actor.activeOrganization ?? actor.userId;
}

/**
 * The owner a list is limited to: the organization in org context (even for managers), nobody
 * (everything) for a manager outside it, else the caller.
 */
export function listScope(actor: Actor, seesAll = actor.isManager): string | null {
  if (actor.activeOrganization) return actor.activeOrganization;
  return seesAll ? null : actor.userId;
}
