/**
 * `/models/{id}/components` (managers): the models a composite alias routes over. `PUT` replaces
 * the whole set in one transaction (the composite row locked, so concurrent PUTs serialize).
 * Components are ordinary models: a composite inside a composite is refused (400), so routing
 * never recurses and a request makes at most `fallback_max_attempts` upstream calls.
 */
import type { Context } from "hono";
import * as z from "zod";
import { withTransaction } from "../../../../shared/db.ts";
import { ApiError } from "../../../../shared/errors.ts";
import type { SqlClient } from "../../../../shared/sql/client.ts";
import { UUID } from "../../../../shared/uuid.ts";
import { findModel } from "./models.ts";
import type { AdminApp } from "./principal.ts";
import type { AdminInput } from "./validation.ts";

const ModelId = z.string().regex(UUID, { error: "must be a model id" });

export const ComponentView = z.object({
  model_id: z.uuid(),
  alias: z.string().describe("The component model's alias"),
  weight: z.number().int().describe("Share of first picks under weighted_random (1–100)"),
  sort_order: z.number().int().describe("Order under priority (ascending)"),
  enabled: z.boolean(),
});
export type ComponentView = z.output<typeof ComponentView>;
export const ComponentList = z.object({ data: z.array(ComponentView) });

const ComponentInput = z.strictObject({
  model_id: ModelId,
  weight: z.number().int().min(1).max(100).optional().describe("Default 1"),
  sort_order: z.number().int().min(-1_000_000).max(1_000_000).optional().describe("Default: the position in the list"),
  enabled: z.boolean().optional().describe("Default true"),
});
export const ComponentSet = z.array(ComponentInput).max(50);

async function componentsOf(db: SqlClient, compositeId: string): Promise<ComponentView[]> {
  const { rows } = await db.query<ComponentView>(
    `SELECT c.deployed_model_id AS model_id, dm.alias, c.weight, c.sort_order, c.enabled
       FROM deployed_model_components c JOIN deployed_models dm ON dm.id = c.deployed_model_id
      WHERE c.composite_model_id = $1
      ORDER BY c.sort_order, dm.alias`,
    [compositeId],
  );
  return rows;
}

async function findComposite(db: SqlClient, id: string, lock = false) {
  const model = await findModel(db, id, lock);
  if (!model.is_composite) throw new ApiError("invalid_request_error", `The model '${model.alias}' is not composite (create one with is_composite: true).`, { param: "id" });
  return model;
}

export async function getComponents(c: Context<AdminApp>, parsed: AdminInput<"id">): Promise<Response> {
  await findComposite(c.get("db"), parsed.params.id);
  return c.json({ data: await componentsOf(c.get("db"), parsed.params.id) });
}

export async function putComponents(c: Context<AdminApp>, parsed: AdminInput<"id", undefined, typeof ComponentSet>): Promise<Response> {
  const id = parsed.params.id;
  const wanted = parsed.body;
  const seen = new Set<string>();
  for (const [i, comp] of wanted.entries()) {
    const key = comp.model_id.toLowerCase();
    if (seen.has(key)) throw new ApiError("invalid_request_error", "Each model may appear once.", { param: `[${i}].model_id` });
    if (key === id.toLowerCase()) throw new ApiError("invalid_request_error", "A composite model cannot be its own component.", { param: `[${i}].model_id` });
    seen.add(key);
  }
  const data = await withTransaction(c.get("db"), async (client) => {
    await findComposite(client, id, true);
    const ids = wanted.map((w) => w.model_id);
    // The components, locked: none may turn composite or be deleted while this set is written.
    const { rows } = await client.query<{ id: string; is_composite: boolean }>(
      "SELECT id, is_composite FROM deployed_models WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL FOR SHARE",
      [ids],
    );
    const found = new Map(rows.map((r) => [r.id.toLowerCase(), r]));
    for (const [i, comp] of wanted.entries()) {
      const row = found.get(comp.model_id.toLowerCase());
      if (!row) throw new ApiError("invalid_request_error", `No model with id ${comp.model_id}.`, { param: `[${i}].model_id` });
      if (row.is_composite) throw new ApiError("invalid_request_error", "A component must be an ordinary model: composites do not nest.", { param: `[${i}].model_id` });
    }
    await client.query("DELETE FROM deployed_model_components WHERE composite_model_id = $1", [id]);
    if (wanted.length > 0) {
      await client.query(
        `INSERT INTO deployed_model_components (composite_model_id, deployed_model_id, weight, sort_order, enabled)
         SELECT $1, m, w, s, e FROM unnest($2::uuid[], $3::int[], $4::int[], $5::bool[]) AS t(m, w, s, e)`,
        [id, ids, wanted.map((w) => w.weight ?? 1), wanted.map((w, i) => w.sort_order ?? i), wanted.map((w) => w.enabled ?? true)],
      );
    }
    await client.query("UPDATE deployed_models SET updated_at = now() WHERE id = $1", [id]);
    return componentsOf(client, id);
  });
  return c.json({ data });
}
