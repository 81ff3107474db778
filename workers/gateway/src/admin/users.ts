/**
 * `/users`: managers list and create users; anyone reads themselves (`/users/current`). Every user
 * carries their roles and credit balance (a decimal string, computed as the gateway's 402 gate
 * computes it).
 */
import type { Context } from "hono";
import { z } from "zod";
import { inTransaction, type SqlClient } from "./transaction.ts";
import { balanceSql } from "../store.ts";
import { assertOwnerVisible, ROLES, type Actor, type AdminApp, type Role } from "./principal.ts";
import { ConflictError, notFound, Pagination, parseBody, parseQuery, pathId, uniqueViolation, type Page } from "./validation.ts";

export const UserView = z.object({
  // Null only for the ADMIN_TOKEN's synthetic `current` user.
  id: z.uuid().nullable(),
  username: z.string(),
  email: z.string().nullable(),
  display_name: z.string().nullable(),
  user_type: z.enum(["individual", "organization"]),
  roles: z.array(z.enum(ROLES)),
  /** Credits as a decimal string; null for the ADMIN_TOKEN, which holds none. */
  balance: z.string().nullable().describe("Credit balance as a decimal string"),
  created_at: z.iso.datetime().nullable(),
  updated_at: z.iso.datetime().nullable(),
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

/** The ADMIN_TOKEN is nobody in `users`; `/users/current` still answers with who it acts as. */
const ADMIN_TOKEN_USER: UserView = {
  id: null,
  username: "admin-token",
  email: null,
  display_name: "ADMIN_TOKEN",
  user_type: "individual",
  roles: ["platform_manager"],
  balance: null,
  created_at: null,
  updated_at: null,
};

export async function findUser(db: SqlClient, id: string): Promise<UserView | null> {
  const { rows } = await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users u WHERE u.id = $1 AND u.deleted_at IS NULL`, [id]);
  return rows[0] ? toView(rows[0]) : null;
}

/** 404 unless the user exists and the actor may see them (the same answer either way). */
export async function visibleUser(db: SqlClient, actor: Actor, id: string): Promise<UserView> {
  assertOwnerVisible(actor, id);
  const user = await findUser(db, id);
  if (!user) throw notFound("user", id);
  return user;
}

export async function listUsers(c: Context<AdminApp>): Promise<Response> {
  const { skip, limit } = parseQuery(c, Pagination);
  const db = c.var.db;
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

export async function createUser(c: Context<AdminApp>): Promise<Response> {
  const input = await parseBody(c, CreateUser);
  const roles = [...new Set<Role>(["standard_user", ...input.roles])];
  const client = await c.var.db.connect();
  try {
    const id = await inTransaction(client, async () => {
      const { rows } = await client.query<{ id: string }>(
        "INSERT INTO users (username, email, display_name) VALUES ($1, $2, $3) RETURNING id",
        [input.username, input.email, input.display_name ?? null],
      );
      const userId = rows[0]!.id;
      await client.query("INSERT INTO user_roles (user_id, role) SELECT $1, unnest($2::text[])", [userId, roles]);
      return userId;
    });
    const user = await findUser(client, id);
    return c.json(user, 201);
  } catch (err) {
    const constraint = uniqueViolation(err);
    if (constraint !== null) {
      const field = constraint.includes("email") ? "email" : "username";
      throw new ConflictError(`A user with this ${field} already exists.`, field);
    }
    throw err;
  } finally {
    client.release();
  }
}

export async function getUser(c: Context<AdminApp>): Promise<Response> {
  const actor = c.var.actor;
  if (c.req.param("id") === "current") {
    if (actor.userId === null) return c.json(ADMIN_TOKEN_USER);
    const me = await findUser(c.var.db, actor.userId);
    if (!me) throw notFound("user", actor.userId);
    return c.json(me);
  }
  return c.json(await visibleUser(c.var.db, actor, pathId(c, "id", "user")));
}
