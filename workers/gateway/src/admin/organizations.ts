/**
 * `/organizations`: organizations are users of type `organization`, so they own keys and credits
 * like anyone; people belong to them as `owner`, `admin` or `member` (`user_organizations`).
 *
 * Anyone may create an organization (and becomes its owner). Members see it and its members;
 * owners and admins add and remove members (only owners hand out or take away `owner`); owners
 * change roles and delete it. An organization always keeps one owner. Managers may do all of
 * this for any organization. Everyone else gets 404 for an organization they are not in.
 *
 * Acting *for* an organization (its keys, its ledger) is organization context: see principal.ts.
 */
import type { Context } from "hono";
import * as z from "zod";
import { withTransaction } from "../../../../shared/db.ts";
import { ApiError } from "../../../../shared/errors.ts";
import type { SqlClient } from "../../../../shared/sql/client.ts";
import { SYSTEM_USER_ID } from "../auth/sessions.ts";
import { ORG_ROLES, organizationRole, type Actor, type AdminApp, type OrgRole } from "./principal.ts";
import { findUser, findUsers, UserView } from "./users.ts";
import { ConflictError, notFound, Pagination, uniqueViolation, type Page, type AdminInput } from "./validation.ts";

export const OrganizationView = UserView.omit({ roles: true }).extend({
  /** The caller's role in it; null for a manager who is not a member. */
  your_role: z.enum(ORG_ROLES).nullable(),
  member_count: z.number().int(),
});
export type OrganizationView = z.output<typeof OrganizationView>;

export const MemberView = z.object({
  user_id: z.uuid(),
  username: z.string(),
  email: z.string(),
  display_name: z.string().nullable(),
  role: z.enum(ORG_ROLES),
  joined_at: z.iso.datetime(),
});
export type MemberView = z.output<typeof MemberView>;

const Name = z.string().trim().min(1).max(100).regex(/^[A-Za-z0-9._@-]+$/, { error: "letters, digits and . _ @ - only" });

export const CreateOrganization = z.strictObject({
  name: Name.describe("Unique; the organization's username"),
  email: z.email().max(320),
  display_name: z.string().trim().max(200).nullable().optional(),
  owner_id: z.uuid().optional().describe("Managers only: who owns it (default: the caller)"),
});
export const PatchOrganization = z.strictObject({
  email: z.email().max(320).optional(),
  display_name: z.string().trim().max(200).nullable().optional(),
});
export const AddMember = z.strictObject({ user_id: z.uuid(), role: z.enum(ORG_ROLES).optional().default("member") });
export const ChangeMember = z.strictObject({ role: z.enum(ORG_ROLES) });

function requireRole(actor: Actor, role: OrgRole | null, allowed: readonly OrgRole[], what: string): void {
  if (actor.isManager || (role !== null && allowed.includes(role))) return;
  throw new ApiError("permission_denied", `${what} needs the ${allowed.join(" or ")} role in this organization.`);
}

/** Organizations as the actor sees them (their role, the member count), in two queries for any number. */
async function organizationViews(db: SqlClient, actor: Actor, orgIds: readonly string[]): Promise<OrganizationView[]> {
  const users = await findUsers(db, orgIds);
  const { rows } = await db.query<{ id: string; role: OrgRole | null; n: number }>(
    `SELECT o.id::text AS id,
            (SELECT role FROM user_organizations WHERE organization_id = o.id AND user_id = $2) AS role,
            (SELECT count(*)::int FROM user_organizations WHERE organization_id = o.id) AS n
       FROM unnest($1::uuid[]) AS o(id)`,
    [orgIds, actor.userId],
  );
  const membership = new Map(rows.map((r) => [r.id, r]));
  return orgIds.map((id) => {
    const user = users.get(id);
    if (!user) throw notFound("organization", id);
    const { roles: _roles, ...rest } = user;
    return { ...rest, your_role: membership.get(id)?.role ?? null, member_count: membership.get(id)?.n ?? 0 };
  });
}

async function organizationView(db: SqlClient, actor: Actor, orgId: string): Promise<OrganizationView> {
  return (await organizationViews(db, actor, [orgId]))[0]!;
}

export async function listOrganizations(c: Context<AdminApp>, parsed: AdminInput<never, typeof Pagination>): Promise<Response> {
  const actor = c.get("actor");
  const { skip, limit } = parsed.query;
  // In organization context just that one (entering it checked the caller may); outside it,
  // managers see every organization and everyone else their own.
  const all = actor.isManager && !actor.activeOrganization;
  const where = `o.user_type = 'organization' AND o.deleted_at IS NULL
    AND CASE WHEN $3::uuid IS NOT NULL THEN o.id = $3
             ELSE $1::boolean OR EXISTS (SELECT 1 FROM user_organizations m WHERE m.organization_id = o.id AND m.user_id = $2) END`;
  const params = [all, actor.userId, actor.activeOrganization];
  const ids = await c.get("db").query<{ id: string }>(`SELECT o.id FROM users o WHERE ${where} ORDER BY o.created_at, o.id LIMIT $4 OFFSET $5`, [...params, limit, skip]);
  const count = await c.get("db").query<{ n: number }>(`SELECT count(*)::int AS n FROM users o WHERE ${where}`, params);
  const data = await organizationViews(c.get("db"), actor, ids.rows.map((r) => r.id));
  const body: Page<OrganizationView> = { data, total_count: count.rows[0]?.n ?? 0, skip, limit };
  return c.json(body);
}

export async function createOrganization(c: Context<AdminApp>, parsed: AdminInput<never, undefined, typeof CreateOrganization>): Promise<Response> {
  const actor = c.get("actor");
  const input = parsed.body;
  if (input.owner_id !== undefined && !actor.isManager) {
    throw new ApiError("permission_denied", "Only a platform_manager may create an organization for someone else.", { param: "owner_id" });
  }
  const ownerId = input.owner_id ?? actor.userId;
  if (ownerId === SYSTEM_USER_ID) throw new ApiError("invalid_request_error", "The admin token's built-in system user owns no organizations: name the owner with owner_id.", { param: "owner_id" });
  const owner = await findUser(c.get("db"), ownerId);
  if (!owner || owner.user_type !== "individual") throw notFound("user", ownerId);

  try {
    const id = await withTransaction(c.get("db"), async (client) => {
      const { rows } = await client.query<{ id: string }>(
        "INSERT INTO users (username, email, display_name, user_type) VALUES ($1, $2, $3, 'organization') RETURNING id",
        [input.name, input.email, input.display_name ?? null],
      );
      const orgId = rows[0]!.id;
      await client.query("INSERT INTO user_organizations (user_id, organization_id, role) VALUES ($1, $2, 'owner')", [ownerId, orgId]);
      return orgId;
    });
    return c.json(await organizationView(c.get("db"), actor, id), 201);
  } catch (err) {
    const constraint = uniqueViolation(err);
    if (constraint !== null) {
      const field = constraint.includes("email") ? "email" : "name";
      throw new ConflictError(`A user or organization with this ${field} already exists.`, field);
    }
    throw err;
  }
}

export async function getOrganization(c: Context<AdminApp>, parsed: AdminInput<"id">): Promise<Response> {
  const orgId = parsed.params.id;
  await organizationRole(c.get("db"), c.get("actor"), orgId);
  return c.json(await organizationView(c.get("db"), c.get("actor"), orgId));
}

export async function patchOrganization(c: Context<AdminApp>, parsed: AdminInput<"id", undefined, typeof PatchOrganization>): Promise<Response> {
  const actor = c.get("actor");
  const orgId = parsed.params.id;
  const input = parsed.body;
  requireRole(actor, await organizationRole(c.get("db"), actor, orgId), ["owner", "admin"], "Changing an organization");
  try {
    await c.get("db").query(
      `UPDATE users SET email = coalesce($2, email),
              display_name = CASE WHEN $3::boolean THEN $4 ELSE display_name END, updated_at = now()
        WHERE id = $1`,
      [orgId, input.email ?? null, input.display_name !== undefined, input.display_name ?? null],
    );
  } catch (err) {
    if (uniqueViolation(err) !== null) throw new ConflictError("A user or organization with this email already exists.", "email");
    throw err;
  }
  return c.json(await organizationView(c.get("db"), actor, orgId));
}

/** Soft delete: its keys are deleted with it (the gateway refuses them within its TTL); history stays. */
export async function deleteOrganization(c: Context<AdminApp>, parsed: AdminInput<"id">): Promise<Response> {
  const actor = c.get("actor");
  const orgId = parsed.params.id;
  requireRole(actor, await organizationRole(c.get("db"), actor, orgId), ["owner"], "Deleting an organization");
  await withTransaction(c.get("db"), async (client) => {
    await client.query("UPDATE users SET deleted_at = now(), updated_at = now() WHERE id = $1", [orgId]);
    await client.query("UPDATE api_keys SET is_deleted = true, deleted_at = now() WHERE user_id = $1 AND NOT is_deleted", [orgId]);
  });
  return c.body(null, 204);
}

type MemberRow = Omit<MemberView, "joined_at"> & { joined_at: Date | string };

export async function listMembers(c: Context<AdminApp>, parsed: AdminInput<"id", typeof Pagination>): Promise<Response> {
  const orgId = parsed.params.id;
  const { skip, limit } = parsed.query;
  await organizationRole(c.get("db"), c.get("actor"), orgId);
  const page = await c.get("db").query<MemberRow>(
    `SELECT u.id AS user_id, u.username, u.email, u.display_name, m.role, m.created_at AS joined_at
       FROM user_organizations m JOIN users u ON u.id = m.user_id
      WHERE m.organization_id = $1 ORDER BY m.created_at, u.id LIMIT $2 OFFSET $3`,
    [orgId, limit, skip],
  );
  const count = await c.get("db").query<{ n: number }>("SELECT count(*)::int AS n FROM user_organizations WHERE organization_id = $1", [orgId]);
  const body: Page<MemberView> = {
    data: page.rows.map((r) => ({ ...r, joined_at: new Date(r.joined_at).toISOString() })),
    total_count: count.rows[0]?.n ?? 0,
    skip,
    limit,
  };
  return c.json(body);
}

async function member(db: SqlClient, orgId: string, userId: string): Promise<MemberView> {
  const { rows } = await db.query<MemberRow>(
    `SELECT u.id AS user_id, u.username, u.email, u.display_name, m.role, m.created_at AS joined_at
       FROM user_organizations m JOIN users u ON u.id = m.user_id WHERE m.organization_id = $1 AND m.user_id = $2`,
    [orgId, userId],
  );
  if (!rows[0]) throw notFound("member", userId);
  return { ...rows[0], joined_at: new Date(rows[0].joined_at).toISOString() };
}

export async function addMember(c: Context<AdminApp>, parsed: AdminInput<"id", undefined, typeof AddMember>): Promise<Response> {
  const actor = c.get("actor");
  const orgId = parsed.params.id;
  const input = parsed.body;
  const role = await organizationRole(c.get("db"), actor, orgId);
  requireRole(actor, role, input.role === "owner" ? ["owner"] : ["owner", "admin"], input.role === "owner" ? "Adding an owner" : "Adding members");
  const user = await findUser(c.get("db"), input.user_id);
  if (!user || user.user_type !== "individual") throw notFound("user", input.user_id);
  try {
    await c.get("db").query("INSERT INTO user_organizations (user_id, organization_id, role) VALUES ($1, $2, $3)", [input.user_id, orgId, input.role]);
  } catch (err) {
    if (uniqueViolation(err) !== null) throw new ConflictError("This user is already a member; change their role instead.", "user_id");
    throw err;
  }
  return c.json(await member(c.get("db"), orgId, input.user_id), 201);
}

/**
 * Changes a role or removes a member under the organization's row lock, refusing anything that
 * would leave it without an owner.
 */
async function changeMembership(c: Context<AdminApp>, orgId: string, userId: string, role: OrgRole | null): Promise<void> {
  await withTransaction(c.get("db"), async (client) => {
    await client.query("SELECT id FROM users WHERE id = $1 FOR UPDATE", [orgId]);
    const current = await member(client, orgId, userId);
    if (current.role === "owner" && role !== "owner") {
      const { rows } = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM user_organizations WHERE organization_id = $1 AND role = 'owner'", [orgId]);
      if ((rows[0]?.n ?? 0) <= 1) throw new ConflictError("An organization must keep an owner: make someone else owner first.", "user_id");
    }
    if (role === null) await client.query("DELETE FROM user_organizations WHERE organization_id = $1 AND user_id = $2", [orgId, userId]);
    else await client.query("UPDATE user_organizations SET role = $3 WHERE organization_id = $1 AND user_id = $2", [orgId, userId, role]);
  });
}

export async function changeMember(c: Context<AdminApp>, parsed: AdminInput<"id" | "user_id", undefined, typeof ChangeMember>): Promise<Response> {
  const actor = c.get("actor");
  const orgId = parsed.params.id;
  const userId = parsed.params.user_id;
  const input = parsed.body;
  requireRole(actor, await organizationRole(c.get("db"), actor, orgId), ["owner"], "Changing roles");
  await changeMembership(c, orgId, userId, input.role);
  return c.json(await member(c.get("db"), orgId, userId));
}

export async function removeMember(c: Context<AdminApp>, parsed: AdminInput<"id" | "user_id">): Promise<Response> {
  const actor = c.get("actor");
  const orgId = parsed.params.id;
  const userId = parsed.params.user_id;
  const role = await organizationRole(c.get("db"), actor, orgId);
  // Anyone may leave; owners and admins remove others (only owners remove an owner).
  if (userId !== actor.userId) {
    const target = await member(c.get("db"), orgId, userId);
    requireRole(actor, role, target.role === "owner" ? ["owner"] : ["owner", "admin"], "Removing members");
  }
  await changeMembership(c, orgId, userId, null);
  return c.body(null, 204);
}
