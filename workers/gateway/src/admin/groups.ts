/**
 * `/groups`: who may use which model. The gateway's access gate lets a key through to a model when
 * the key's owner shares a group with it (`user_groups` ⋈ `deployment_groups`), or when the model
 * is in the built-in Everyone group, of which every user is implicitly a member. Changes reach the
 * gateway within `ACCESS_CACHE_TTL_MS`.
 *
 * Managers change everything. Anyone may list and read the groups they belong to (Everyone
 * included); any other group answers 404 as a missing one does. Member and model lists are for
 * managers: a group's roster is not its members' business.
 */
import type { Context } from "hono";
import * as z from "zod";
import { ApiError } from "../../../../shared/errors.ts";
import { EVERYONE_GROUP } from "../lookups.ts";
import type { AdminApp } from "./principal.ts";
import type { SqlClient } from "../../../../shared/sql/client.ts";
import { UUID } from "../../../../shared/uuid.ts";
import { ConflictError, notFound, Pagination, uniqueViolation, type Page, type AdminInput } from "./validation.ts";

export const GroupView = z.object({
  id: z.uuid(),
  name: z.string(),
  description: z.string().nullable(),
  builtin: z.boolean().describe("True for Everyone, which every user belongs to and which cannot be renamed or deleted"),
  created_by: z.uuid().nullable(),
  created_at: z.iso.datetime(),
});
export type GroupView = z.output<typeof GroupView>;

export const GroupMemberView = z.object({
  id: z.uuid(),
  username: z.string(),
  email: z.string(),
  display_name: z.string().nullable(),
});
export type GroupMemberView = z.output<typeof GroupMemberView>;

export const GroupModelView = z.object({
  id: z.uuid(),
  alias: z.string(),
  model_name: z.string().nullable(),
  model_type: z.string(),
});
export type GroupModelView = z.output<typeof GroupModelView>;

type GroupRow = Omit<GroupView, "created_at" | "builtin"> & { created_at: Date | string };

const GROUP_COLUMNS = "g.id, g.name, g.description, g.created_by, g.created_at";

function toView(row: GroupRow): GroupView {
  return { ...row, builtin: row.id === EVERYONE_GROUP, created_at: new Date(row.created_at).toISOString() };
}

const Name = z.string().trim().min(1).max(200);
export const CreateGroup = z.strictObject({
  name: Name,
  description: z.string().max(2000).nullable().optional(),
});
export const PatchGroup = CreateGroup.partial();
const IdField = (what: string) =>
  z.string().regex(UUID, { error: `must be a ${what} id` }).transform((s) => s.toLowerCase());
export const AddGroupUser = z.strictObject({ user_id: IdField("user") });
export const AddGroupModel = z.strictObject({ model_id: IdField("model") });

// Membership as the gateway sees it: Everyone implicitly, any other group through user_groups.
const MEMBER_OF = `(g.id = '${EVERYONE_GROUP}' OR EXISTS (SELECT 1 FROM user_groups ug WHERE ug.group_id = g.id AND ug.user_id = $USER))`;

/** The group, or 404 if it is missing or (for a non-manager) not one of theirs. */
async function visibleGroup(c: Context<AdminApp>, id: string, db: SqlClient = c.get("db")): Promise<GroupView> {
  const actor = c.get("actor");
  const { rows } =
    actor.isManager
      ? await db.query<GroupRow>(`SELECT ${GROUP_COLUMNS} FROM groups g WHERE g.id = $1`, [id])
      : await db.query<GroupRow>(`SELECT ${GROUP_COLUMNS} FROM groups g WHERE g.id = $1 AND ${MEMBER_OF.replace("$USER", "$2")}`, [id, actor.userId]);
  if (!rows[0]) throw notFound("group", id);
  return toView(rows[0]);
}

function mapNameClash(err: unknown): never {
  if (uniqueViolation(err) !== null) throw new ConflictError("A group with this name already exists.", "name");
  throw err;
}

export async function listGroups(c: Context<AdminApp>, parsed: AdminInput<never, typeof Pagination>): Promise<Response> {
  const { skip, limit } = parsed.query;
  const actor = c.get("actor");
  const mine = !actor.isManager && actor.userId !== null;
  const where = mine ? `WHERE ${MEMBER_OF.replace("$USER", "$3")}` : "";
  const params = mine ? [limit, skip, actor.userId] : [limit, skip];
  // One after the other: an admin request holds at most one connection.
  const page = await c.get("db").query<GroupRow>(`SELECT ${GROUP_COLUMNS} FROM groups g ${where} ORDER BY g.created_at, g.id LIMIT $1 OFFSET $2`, params);
  const count = await c.get("db").query<{ n: number }>(
    `SELECT count(*)::int AS n FROM groups g ${mine ? `WHERE ${MEMBER_OF.replace("$USER", "$1")}` : ""}`,
    mine ? [actor.userId] : [],
  );
  const body: Page<GroupView> = { data: page.rows.map(toView), total_count: count.rows[0]?.n ?? 0, skip, limit };
  return c.json(body);
}

export async function createGroup(c: Context<AdminApp>, parsed: AdminInput<never, undefined, typeof CreateGroup>): Promise<Response> {
  const input = parsed.body;
  try {
    const { rows } = await c.get("db").query<GroupRow>(
      `INSERT INTO groups AS g (name, description, created_by) VALUES ($1, $2, $3) RETURNING ${GROUP_COLUMNS}`,
      [input.name, input.description ?? null, c.get("actor").userId],
    );
    return c.json(toView(rows[0]!), 201);
  } catch (err) {
    mapNameClash(err);
  }
}

export async function getGroup(c: Context<AdminApp>, parsed: AdminInput<"id">): Promise<Response> {
  return c.json(await visibleGroup(c, parsed.params.id));
}

export async function patchGroup(c: Context<AdminApp>, parsed: AdminInput<"id", undefined, typeof PatchGroup>): Promise<Response> {
  const id = parsed.params.id;
  const input = parsed.body;
  if (id === EVERYONE_GROUP && input.name !== undefined && input.name !== "Everyone") {
    throw new ApiError("invalid_request_error", "The built-in Everyone group cannot be renamed.", { param: "name" });
  }
  try {
    const { rows } = await c.get("db").query<GroupRow>(
      `UPDATE groups AS g SET name = coalesce($2, g.name),
              description = CASE WHEN $3::boolean THEN $4 ELSE g.description END
        WHERE g.id = $1 RETURNING ${GROUP_COLUMNS}`,
      [id, input.name ?? null, input.description !== undefined, input.description ?? null],
    );
    if (!rows[0]) throw notFound("group", id);
    return c.json(toView(rows[0]));
  } catch (err) {
    mapNameClash(err);
  }
}

/** Members and model grants go with the group (ON DELETE CASCADE); access closes within the TTL. */
export async function deleteGroup(c: Context<AdminApp>, parsed: AdminInput<"id">): Promise<Response> {
  const id = parsed.params.id;
  if (id === EVERYONE_GROUP) throw new ApiError("invalid_request_error", "The built-in Everyone group cannot be deleted.");
  const { rows } = await c.get("db").query<{ id: string }>("DELETE FROM groups WHERE id = $1 RETURNING id", [id]);
  if (!rows[0]) throw notFound("group", id);
  return c.body(null, 204);
}

const MEMBER_COLUMNS = "u.id, u.username, u.email, u.display_name";

/** Everyone's members are every live user; another group's are its `user_groups` rows. */
export async function listGroupUsers(c: Context<AdminApp>, parsed: AdminInput<"id", typeof Pagination>): Promise<Response> {
  const group = await visibleGroup(c, parsed.params.id);
  const { skip, limit } = parsed.query;
  const everyone = group.builtin;
  const from = everyone ? "users u WHERE u.deleted_at IS NULL" : "user_groups ug JOIN users u ON u.id = ug.user_id WHERE ug.group_id = $3 AND u.deleted_at IS NULL";
  const page = await c.get("db").query<GroupMemberView>(
    `SELECT ${MEMBER_COLUMNS} FROM ${from} ORDER BY u.username, u.id LIMIT $1 OFFSET $2`,
    everyone ? [limit, skip] : [limit, skip, group.id],
  );
  const count = await c.get("db").query<{ n: number }>(`SELECT count(*)::int AS n FROM ${from.replace("$3", "$1")}`, everyone ? [] : [group.id]);
  const body: Page<GroupMemberView> = { data: page.rows, total_count: count.rows[0]?.n ?? 0, skip, limit };
  return c.json(body);
}

export async function addGroupUser(c: Context<AdminApp>, parsed: AdminInput<"id", undefined, typeof AddGroupUser>): Promise<Response> {
  const group = await visibleGroup(c, parsed.params.id);
  const { user_id } = parsed.body;
  if (group.builtin) throw new ApiError("invalid_request_error", "Every user is implicitly a member of Everyone.", { param: "user_id" });
  // Adding a member twice is not an error: the membership is what was asked for.
  const { rows } = await c.get("db").query<GroupMemberView>(
    `WITH u AS (SELECT ${MEMBER_COLUMNS} FROM users u WHERE u.id = $2 AND u.deleted_at IS NULL),
          ins AS (INSERT INTO user_groups (user_id, group_id) SELECT id, $1 FROM u ON CONFLICT DO NOTHING)
     SELECT * FROM u`,
    [group.id, user_id],
  );
  if (!rows[0]) throw new ApiError("invalid_request_error", "No user with this id.", { param: "user_id" });
  return c.json(rows[0], 201);
}

export async function removeGroupUser(c: Context<AdminApp>, parsed: AdminInput<"id" | "user_id">): Promise<Response> {
  const group = await visibleGroup(c, parsed.params.id);
  const userId = parsed.params.user_id;
  if (group.builtin) throw new ApiError("invalid_request_error", "Nobody can leave Everyone; delete the user instead.");
  const { rows } = await c.get("db").query<{ user_id: string }>("DELETE FROM user_groups WHERE group_id = $1 AND user_id = $2 RETURNING user_id", [group.id, userId]);
  if (!rows[0]) throw notFound("group member", userId);
  return c.body(null, 204);
}

const GROUP_MODEL_FROM = "deployment_groups dg JOIN deployed_models dm ON dm.id = dg.deployment_id WHERE dg.group_id = $1 AND dm.deleted_at IS NULL";

export async function listGroupModels(c: Context<AdminApp>, parsed: AdminInput<"id", typeof Pagination>): Promise<Response> {
  const group = await visibleGroup(c, parsed.params.id);
  const { skip, limit } = parsed.query;
  const page = await c.get("db").query<GroupModelView>(
    `SELECT dm.id, dm.alias, dm.model_name, dm.model_type FROM ${GROUP_MODEL_FROM} ORDER BY dm.alias LIMIT $2 OFFSET $3`,
    [group.id, limit, skip],
  );
  const count = await c.get("db").query<{ n: number }>(`SELECT count(*)::int AS n FROM ${GROUP_MODEL_FROM}`, [group.id]);
  const body: Page<GroupModelView> = { data: page.rows, total_count: count.rows[0]?.n ?? 0, skip, limit };
  return c.json(body);
}

/** Granting Everyone a model is the same as the model's `open_to_everyone: true`. */
export async function addGroupModel(c: Context<AdminApp>, parsed: AdminInput<"id", undefined, typeof AddGroupModel>): Promise<Response> {
  const group = await visibleGroup(c, parsed.params.id);
  const { model_id } = parsed.body;
  const { rows } = await c.get("db").query<GroupModelView>(
    `WITH m AS (SELECT dm.id, dm.alias, dm.model_name, dm.model_type FROM deployed_models dm WHERE dm.id = $2 AND dm.deleted_at IS NULL),
          ins AS (INSERT INTO deployment_groups (deployment_id, group_id) SELECT id, $1 FROM m ON CONFLICT DO NOTHING)
     SELECT * FROM m`,
    [group.id, model_id],
  );
  if (!rows[0]) throw new ApiError("invalid_request_error", "No model with this id.", { param: "model_id" });
  return c.json(rows[0], 201);
}

export async function removeGroupModel(c: Context<AdminApp>, parsed: AdminInput<"id" | "model_id">): Promise<Response> {
  const group = await visibleGroup(c, parsed.params.id);
  const modelId = parsed.params.model_id;
  const { rows } = await c.get("db").query<{ deployment_id: string }>(
    "DELETE FROM deployment_groups WHERE group_id = $1 AND deployment_id = $2 RETURNING deployment_id",
    [group.id, modelId],
  );
  if (!rows[0]) throw notFound("group model", modelId);
  return c.body(null, 204);
}
