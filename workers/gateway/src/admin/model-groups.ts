/**
 * `GET /models/{id}/groups` (managers): the groups that grant a model — the other side of
 * `/groups/{id}/models`, for the console's model page. Everyone among them means the model is open
 * to every user.
 */
import type { Context } from "hono";
import { EVERYONE_GROUP } from "../lookups.ts";
import type { GroupView } from "./groups.ts";
import type { AdminApp } from "./principal.ts";
import { notFound, Pagination, type Page, type AdminInput } from "./validation.ts";

type GroupRow = Omit<GroupView, "created_at" | "builtin"> & { created_at: Date | string };

export async function listModelGroups(c: Context<AdminApp>, parsed: AdminInput<"id", typeof Pagination>): Promise<Response> {
  const modelId = parsed.params.id;
  const { skip, limit } = parsed.query;
  const db = c.get("db");
  const model = await db.query<{ id: string }>("SELECT id FROM deployed_models WHERE id = $1 AND deleted_at IS NULL", [modelId]);
  if (model.rows.length === 0) throw notFound("model", modelId);
  // One after the other: an admin request holds at most one connection.
  const page = await db.query<GroupRow>(
    `SELECT g.id, g.name, g.description, g.created_by, g.created_at
       FROM deployment_groups dg JOIN groups g ON g.id = dg.group_id
      WHERE dg.deployment_id = $1 ORDER BY g.name, g.id LIMIT $2 OFFSET $3`,
    [modelId, limit, skip],
  );
  const count = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM deployment_groups WHERE deployment_id = $1", [modelId]);
  const body: Page<GroupView> = {
    data: page.rows.map((r) => ({ ...r, builtin: r.id === EVERYONE_GROUP, created_at: new Date(r.created_at).toISOString() })),
    total_count: count.rows[0]?.n ?? 0,
    skip,
    limit,
  };
  return c.json(body);
}
