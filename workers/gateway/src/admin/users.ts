/**
 * `/users`: managers list, create and (softly) delete users (billing managers list and read them);
 * anyone reads and edits themselves
 * (`/users/current`), but only managers change roles. Every user
 * carries their roles and credit balance (a decimal string, computed as the gateway's 402 gate
 * computes it).
 */
import type { Context } from "hono";
import * as z from "zod";
import { withTransaction } from "../../../../shared/db.ts";
import { ApiError } from "../../../../shared/errors.ts";
import type { SqlClient } from "../../../../shared/sql/client.ts";
import { revokeUserSessions, SYSTEM_USER_ID } from "../auth/sessions.ts";
import { balanceSql } from "../lookups.ts";
import { assertOwnerVisible, ROLES, type Actor, type AdminApp, type Role } from "./principal.ts";
import { ConflictError, notFound, Pagination, uniqueViolation, type Page, type AdminInput } from "./validation.ts";

export const UserView = z.object({
  id: z.uuid(),
  username: z.string(),
  email: z.string().nullable(),
  display_name: z.string().nullable(),
  user_type: z.enum(["individual", "organization"]),
  roles: z.array(z.enum(ROLES)),
  balance: z.string().describe("Credit balance as a decimal string"),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
});
export type UserView = z.output<typeof UserView>;

type UserRow = {
  id: string;
  username: string;
  email: string;
  display_name: string | null;
  user_type: "individual" | "organization";
  roles: Role[];
  balance: string;
  created_at: Date | string;
  updated_at: Date | string;
};

const USER_COLUMNS = `
  u.id, u.username, u.email, u.display_name, u.user_type,
  coalesce((SELECT array_agg(r.role ORDER BY r.role) FROM user_roles r WHERE r.user_id = u.id), '{}') AS roles,
  (${balanceSql("u.id")})::text AS balance,
  u.created_at, u.updated_at`;

const iso = (v: Date | string): string => new Date(v).toISOString();

function toView(row: UserRow): UserView {
  // Every user is a standard user, with or without the row (as the actor resolution treats them).
  const roles = row.roles.includes("standard_user") ? [...row.roles] : [...row.roles, "standard_user" as const].sort();
  return { ...row, roles, created_at: iso(row.created_at), updated_at: iso(row.updated_at) };
}

export async function findUser(db: SqlClient, id: string): Promise<UserView | null> {
  return (await findUsers(db, [id])).get(id) ?? null;
}

/** Live users by id, in one query; ids that name no live user are absent from the map. */
export async function findUsers(db: SqlClient, ids: readonly string[]): Promise<Map<string, UserView>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users u WHERE u.id = ANY($1::uuid[]) AND u.deleted_at IS NULL`, [ids]);
  return new Map(rows.map((row) => [row.id, toView(row)]));
}

/** 404 unless the user exists and the actor may see them (the same answer either way). */
export async function visibleUser(db: SqlClient, actor: Actor, id: string): Promise<UserView> {
  assertOwnerVisible(actor, id);
  const user = await findUser(db, id);
  if (!user) throw notFound("user", id);
  return user;
}

/**
 * Reads every user: platform managers, and billing managers (who credit accounts and so must find
 * them; they read, they do not edit).
 */
export function readsAllUsers(actor: Actor): boolean {
  return actor.isManager || actor.roles.includes("billing_manager");
}

export async function listUsers(c: Context<AdminApp>, parsed: AdminInput<never, typeof Pagination>): Promise<Response> {
  if (!readsAllUsers(c.get("actor"))) throw new ApiError("permission_denied", "Listing users needs the platform_manager or billing_manager role.");
  const { skip, limit } = parsed.query;
  const db = c.get("db");
  // One after the other: an admin request holds at most one connection.
  const page = await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users u WHERE u.deleted_at IS NULL ORDER BY u.created_at, u.id LIMIT $1 OFFSET $2`, [limit, skip]);
  const count = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM users WHERE deleted_at IS NULL");
  const body: Page<UserView> = { data: page.rows.map(toView), total_count: count.rows[0]?.n ?? 0, skip, limit };
  return c.json(body);
}

export const CreateUser = z.strictObject({
  username: z.string().trim().min(1).max(100).regex(/^[A-Za-z0-9._@-]+$/, { error: "letters, digits and . _ @ - only" }),
  email: z.email().max(320),
  display_name: z.string().trim().max(200).nullable().optional(),
  // Every user is a standard user; the list adds roles on top.
  roles: z.array(z.enum(ROLES)).max(ROLES.length).optional().default([]),
});

export async function createUser(c: Context<AdminApp>, parsed: AdminInput<never, undefined, typeof CreateUser>): Promise<Response> {
  const input = parsed.body;
  const roles = [...new Set<Role>(["standard_user", ...input.roles])];
  try {
    const id = await withTransaction(c.get("db"), async (client) => {
      const { rows } = await client.query<{ id: string }>(
        "INSERT INTO users (username, email, display_name) VALUES ($1, $2, $3) RETURNING id",
        [input.username, input.email, input.display_name ?? null],
      );
      const userId = rows[0]!.id;
      await client.query("INSERT INTO user_roles (user_id, role) SELECT $1, unnest($2::text[])", [userId, roles]);
      return userId;
    });
    const user = await findUser(c.get("db"), id);
    return c.json(user, 201);
  } catch (err) {
    const constraint = uniqueViolation(err);
    if (constraint !== null) {
      const field = constraint.includes("email") ? "email" : "username";
      throw new ConflictError(`A user with this ${field} already exists.`, field);
    }
    throw err;
  }
}

export async function getUser(c: Context<AdminApp>, parsed: AdminInput<"id">): Promise<Response> {
  const actor = c.get("actor");
  if (parsed.params.id === "current") {
    const me = await findUser(c.get("db"), actor.userId);
    if (!me) throw notFound("user", actor.userId);
    return c.json(me);
  }
  if (readsAllUsers(actor) && !actor.isManager) {
    const user = await findUser(c.get("db"), parsed.params.id);
    if (!user) throw notFound("user", parsed.params.id);
    return c.json(user);
  }
  return c.json(await visibleUser(c.get("db"), actor, parsed.params.id));
}

export const PatchUser = z.strictObject({
  display_name: z.string().trim().max(200).nullable().optional(),
  email: z.email().max(320).optional(),
  // Replaces the user's roles (standard_user is always kept). Managers only.
  roles: z.array(z.enum(ROLES)).max(ROLES.length).optional(),
});

/** `{id}` for PATCH: a user id, or `current` for the caller's own user. */
function targetUser(c: Context<AdminApp>, param: string): string {
  const id = param === "current" ? c.get("actor").userId : param;
  refuseSystemUser(id, "changed");
  return id;
}

/** The built-in system user (what the ADMIN_TOKEN acts as) is fixed: a migration made it. */
function refuseSystemUser(id: string, what: "changed" | "deleted"): void {
  if (id === SYSTEM_USER_ID) throw new ApiError("permission_denied", `The built-in system user (the ADMIN_TOKEN's identity) cannot be ${what}.`);
}

/**
 * Users edit their own display name and email; only managers edit anyone's, and only managers
 * change roles (which would otherwise be a self-service path to platform_manager).
 */
export async function patchUser(c: Context<AdminApp>, parsed: AdminInput<"id", undefined, typeof PatchUser>): Promise<Response> {
  const actor = c.get("actor");
  const id = targetUser(c, parsed.params.id);
  const input = parsed.body;
  await visibleUser(c.get("db"), actor, id);
  if (input.roles !== undefined && !actor.isManager) {
    throw new ApiError("permission_denied", "Only a platform_manager may change roles.", { param: "roles" });
  }
  try {
    const user = await withTransaction(c.get("db"), async (client) => {
      const { rows } = await client.query<{ id: string }>(
        `UPDATE users SET email = coalesce($2, email),
                display_name = CASE WHEN $3::boolean THEN $4 ELSE display_name END,
                updated_at = now()
          WHERE id = $1 AND deleted_at IS NULL RETURNING id`,
        [id, input.email ?? null, input.display_name !== undefined, input.display_name ?? null],
      );
      if (!rows[0]) throw notFound("user", id);
      if (input.roles !== undefined) {
        const roles = [...new Set<Role>(["standard_user", ...input.roles])];
        await client.query("DELETE FROM user_roles WHERE user_id = $1 AND role <> ALL($2::text[])", [id, roles]);
        await client.query("INSERT INTO user_roles (user_id, role) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING", [id, roles]);
      }
      return findUser(client, id);
    });
    return c.json(user);
  } catch (err) {
    if (uniqueViolation(err) !== null) throw new ConflictError("A user with this email already exists.", "email");
    throw err;
  }
}

/**
 * Soft delete (managers): the row stays for analytics and the ledger. The user's keys and console
 * sessions end with it in one transaction, so the gateway refuses them within `ACCESS_CACHE_TTL_MS`, and a
 * platform key of theirs opens the admin API no more.
 */
export async function deleteUser(c: Context<AdminApp>, parsed: AdminInput<"id">): Promise<Response> {
  const id = parsed.params.id;
  refuseSystemUser(id, "deleted");
  await withTransaction(c.get("db"), async (client) => {
    const { rows } = await client.query<{ id: string }>(
      "UPDATE users SET deleted_at = now(), updated_at = now() WHERE id = $1 AND deleted_at IS NULL RETURNING id",
      [id],
    );
    if (!rows[0]) throw notFound("user", id);
    await client.query("UPDATE api_keys SET is_deleted = true, deleted_at = now() WHERE user_id = $1 AND NOT is_deleted", [id]);
    await revokeUserSessions(client, id);
  });
  return c.body(null, 204);
}
