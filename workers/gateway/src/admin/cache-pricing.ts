/**
 * `/models/{id}/cache-pricing` (managers): a model's prompt-cache tariff. While a model has one in
 * force, the gateway caches its prompts and the consumer bills reads and writes at these multiples
 * of the input price; without one, every prompt token is billed at list price.
 *
 * Like prices, cache tariffs are history: `PUT` closes the active row (`valid_until = now()`) and
 * opens a new one from the same instant, so a request is always billed with the row valid when it
 * ran; `DELETE` closes the active row (caching off). Rows are never edited otherwise.
 */
import type { Context } from "hono";
import Decimal from "decimal.js";
import * as z from "zod";
import { withTransaction } from "../../../../shared/db.ts";
import type { SqlClient } from "../../../../shared/sql/client.ts";
import { findModel } from "./models.ts";
import type { AdminApp } from "./principal.ts";
import { DecimalString, type AdminInput } from "./validation.ts";

export const CachePricingView = z.object({
  id: z.uuid(),
  read_multiplier: z.string().describe("Cache reads cost this multiple of the input price (decimal string)"),
  write_multiplier_5m: z.string().nullable().describe("Null: the 5m tier is billed at list price"),
  write_multiplier_1h: z.string().nullable(),
  write_multiplier_24h: z.string().nullable(),
  min_prefix_tokens: z.number().int().describe("Prompts shorter than this are never cached"),
  valid_from: z.iso.datetime(),
  valid_until: z.iso.datetime().nullable().describe("Null while in force"),
});
export type CachePricingView = z.output<typeof CachePricingView>;

export const CachePricingState = z.object({
  active: CachePricingView.nullable().describe("The row in force; null when caching is off"),
  history: z.array(CachePricingView).describe("Every closed row, newest first"),
});

export const CachePricingInput = z.strictObject({
  read_multiplier: DecimalString,
  write_multiplier_5m: DecimalString.nullable().optional(),
  write_multiplier_1h: DecimalString.nullable().optional(),
  write_multiplier_24h: DecimalString.nullable().optional(),
  min_prefix_tokens: z.number().int().min(0).max(10_000_000).optional(),
});
type CachePricingInput = z.output<typeof CachePricingInput>;

type Row = Omit<CachePricingView, "valid_from" | "valid_until"> & { valid_from: Date | string; valid_until: Date | string | null };

const COLUMNS = `id, read_multiplier::text AS read_multiplier, write_multiplier_5m::text AS write_multiplier_5m,
  write_multiplier_1h::text AS write_multiplier_1h, write_multiplier_24h::text AS write_multiplier_24h,
  min_prefix_tokens, valid_from, valid_until`;

function toView(row: Row): CachePricingView {
  return {
    ...row,
    valid_from: new Date(row.valid_from).toISOString(),
    valid_until: row.valid_until === null ? null : new Date(row.valid_until).toISOString(),
  };
}

async function stateOf(db: SqlClient, modelId: string) {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM model_cache_tariffs WHERE deployed_model_id = $1 ORDER BY valid_from DESC, created_at DESC`, [modelId]);
  const views = rows.map(toView);
  return { active: views.find((v) => v.valid_until === null) ?? null, history: views.filter((v) => v.valid_until !== null) };
}

const sameMultiplier = (a: string | null, b: string | null | undefined) => (a === null || b == null ? a === (b ?? null) : new Decimal(a).eq(b));

function unchanged(active: CachePricingView, input: CachePricingInput): boolean {
  return (
    new Decimal(active.read_multiplier).eq(input.read_multiplier) &&
    sameMultiplier(active.write_multiplier_5m, input.write_multiplier_5m) &&
    sameMultiplier(active.write_multiplier_1h, input.write_multiplier_1h) &&
    sameMultiplier(active.write_multiplier_24h, input.write_multiplier_24h) &&
    active.min_prefix_tokens === (input.min_prefix_tokens ?? 1024)
  );
}

export async function getCachePricing(c: Context<AdminApp>, parsed: AdminInput<"id">): Promise<Response> {
  const id = parsed.params.id;
  await findModel(c.get("db"), id);
  return c.json(await stateOf(c.get("db"), id));
}

export async function putCachePricing(c: Context<AdminApp>, parsed: AdminInput<"id", undefined, typeof CachePricingInput>): Promise<Response> {
  const id = parsed.params.id;
  const input = parsed.body;
  const state = await withTransaction(c.get("db"), async (client) => {
    // The model row lock serialises concurrent PUTs, so only one row is ever active.
    await findModel(client, id, true);
    const { active } = await stateOf(client, id);
    if (active && unchanged(active, input)) return stateOf(client, id);
    if (active) await client.query("UPDATE model_cache_tariffs SET valid_until = now() WHERE id = $1", [active.id]);
    await client.query(
      `INSERT INTO model_cache_tariffs (deployed_model_id, read_multiplier, write_multiplier_5m, write_multiplier_1h, write_multiplier_24h, min_prefix_tokens, valid_from)
       VALUES ($1, $2::numeric, $3::numeric, $4::numeric, $5::numeric, $6, now())`,
      [id, input.read_multiplier, input.write_multiplier_5m ?? null, input.write_multiplier_1h ?? null, input.write_multiplier_24h ?? null, input.min_prefix_tokens ?? 1024],
    );
    return stateOf(client, id);
  });
  return c.json(state);
}

export async function deleteCachePricing(c: Context<AdminApp>, parsed: AdminInput<"id">): Promise<Response> {
  const id = parsed.params.id;
  await withTransaction(c.get("db"), async (client) => {
    await findModel(client, id, true);
    await client.query("UPDATE model_cache_tariffs SET valid_until = now() WHERE deployed_model_id = $1 AND valid_until IS NULL", [id]);
  });
  return c.body(null, 204);
}
