/**
 * `/models/{id}/tariffs` (managers): a model's prices per key purpose (and completion window).
 *
 * Prices are history: usage is priced by the tariff valid at the request's time, so a row once in
 * force is never edited. `PUT` takes the full set of tariffs the model should have from now on; in
 * one transaction (the model row locked, so concurrent PUTs serialize) each changed price closes
 * its active row (`valid_until = now()`) and opens a new one from the same instant, unchanged
 * prices are left alone, and active tariffs missing from the set are closed.
 */
import type { Context } from "hono";
import Decimal from "decimal.js";
import * as z from "zod";
import { withTransaction } from "../../../../shared/db.ts";
import { ApiError } from "../../../../shared/errors.ts";
import type { SqlClient } from "../../../../shared/sql/client.ts";
import { findModel } from "./models.ts";
import type { AdminApp } from "./principal.ts";
import { DecimalString, type AdminInput } from "./validation.ts";

const TARIFF_PURPOSES = ["realtime", "batch", "playground"] as const;

export const TariffView = z.object({
  id: z.uuid(),
  purpose: z.enum(TARIFF_PURPOSES),
  completion_window: z.string().nullable(),
  input_price_per_token: z.string().describe("Decimal string"),
  output_price_per_token: z.string().describe("Decimal string"),
  valid_from: z.iso.datetime(),
  valid_until: z.iso.datetime().nullable().describe("Null while the tariff is in force"),
});
export type TariffView = z.output<typeof TariffView>;
export const TariffList = z.object({ data: z.array(TariffView) });

type TariffRow = Omit<TariffView, "valid_from" | "valid_until"> & { valid_from: Date | string; valid_until: Date | string | null };

// Prices leave Postgres as text so no float ever touches them.
const TARIFF_COLUMNS = `id, api_key_purpose AS purpose, completion_window, input_price_per_token::text AS input_price_per_token,
  output_price_per_token::text AS output_price_per_token, valid_from, valid_until`;

function toView(row: TariffRow): TariffView {
  return {
    ...row,
    valid_from: new Date(row.valid_from).toISOString(),
    valid_until: row.valid_until === null ? null : new Date(row.valid_until).toISOString(),
  };
}

const TariffInput = z.strictObject({
  purpose: z.enum(TARIFF_PURPOSES),
  completion_window: z.string().trim().min(1).max(20).regex(/^\d+[smhd]$/, { error: "must look like \"24h\"" }).nullable().optional(),
  input_price_per_token: DecimalString,
  output_price_per_token: DecimalString,
});
type TariffInput = z.output<typeof TariffInput>;

export const TariffSet = z.array(TariffInput).max(50);

const slot = (purpose: string, window: string | null | undefined) => `${purpose}\u0000${window ?? ""}`;

export const TariffQuery = z.strictObject({
  include_history: z.enum(["true", "false"]).optional().default("false"),
});

async function tariffsOf(db: SqlClient, modelId: string, includeHistory: boolean): Promise<TariffView[]> {
  const { rows } = await db.query<TariffRow>(
    `SELECT ${TARIFF_COLUMNS} FROM model_tariffs
      WHERE deployed_model_id = $1 ${includeHistory ? "" : "AND valid_until IS NULL"}
      ORDER BY api_key_purpose, coalesce(completion_window, ''), valid_from DESC, created_at DESC`,
    [modelId],
  );
  return rows.map(toView);
}

export async function getTariffs(c: Context<AdminApp>, parsed: AdminInput<"id", typeof TariffQuery>): Promise<Response> {
  const id = parsed.params.id;
  const { include_history } = parsed.query;
  await findModel(c.get("db"), id);
  return c.json({ data: await tariffsOf(c.get("db"), id, include_history === "true") });
}

export async function putTariffs(c: Context<AdminApp>, parsed: AdminInput<"id", undefined, typeof TariffSet>): Promise<Response> {
  const id = parsed.params.id;
  const wanted = parsed.body;
  const bySlot = new Map<string, TariffInput>();
  for (const [i, t] of wanted.entries()) {
    const key = slot(t.purpose, t.completion_window);
    if (bySlot.has(key)) {
      throw new ApiError("invalid_request_error", "Each (purpose, completion_window) may appear once.", { param: `[${i}].completion_window` });
    }
    bySlot.set(key, t);
  }

  const data = await withTransaction(c.get("db"), async (client) => {
    await findModel(client, id, true);
    const active = await tariffsOf(client, id, false);
    const toClose: string[] = [];
    const kept = new Set<string>();
    for (const row of active) {
      const key = slot(row.purpose, row.completion_window);
      const next = bySlot.get(key);
      // Decimal equality, so "0.10" and "0.1" are the same price and change nothing.
      if (next && new Decimal(next.input_price_per_token).eq(row.input_price_per_token) && new Decimal(next.output_price_per_token).eq(row.output_price_per_token)) {
        kept.add(key);
      } else {
        toClose.push(row.id);
      }
    }
    if (toClose.length > 0) {
      await client.query("UPDATE model_tariffs SET valid_until = now() WHERE id = ANY($1::uuid[])", [toClose]);
    }
    const toOpen = [...bySlot.entries()].filter(([key]) => !kept.has(key)).map(([, t]) => t);
    if (toOpen.length > 0) {
      // valid_from = now() is the transaction's instant: the closed row ends exactly where the new one starts.
      await client.query(
        `INSERT INTO model_tariffs (deployed_model_id, name, api_key_purpose, completion_window, input_price_per_token, output_price_per_token, valid_from)
         SELECT $1, 'default', p, w, i::numeric, o::numeric, now()
           FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS t(p, w, i, o)`,
        [id, toOpen.map((t) => t.purpose), toOpen.map((t) => t.completion_window ?? null), toOpen.map((t) => t.input_price_per_token), toOpen.map((t) => t.output_price_per_token)],
      );
    }
    return tariffsOf(client, id, false);
  });
  return c.json({ data });
}
