/**
 * The admin views of batches (the Batches API's, docs/batches.md):
 *
 *   GET /admin/api/v1/batches        list, newest first (managers: everyone's; others: their own;
 *                                    in organization context, the organization's)
 *   GET /admin/api/v1/batches/{id}   one batch (`batch_…`), with the request states it has
 *
 * Another owner's batch answers 404 exactly as an unknown one does.
 */
import type { Context } from "hono";
import * as z from "zod";
import { batchRowId } from "../../../../shared/batch-message.ts";
import { batchObject, type BatchRow } from "../batches.ts";
import { listScope, type AdminApp } from "./principal.ts";
import { notFound, Pagination, pathKeySchema, type AdminInput, type Page } from "./validation.ts";

/** A batch's public id (`batch_<32 hex>`); anything else names no batch (404). */
export const BatchId = pathKeySchema(/^batch_[0-9a-f]{32}$/, (id) => notFound("batch", id));

const Timestamp = z.number().int().nullable().describe("Unix seconds");

export const BatchView = z.object({
  id: z.string().describe("`batch_…`, as the Batches API names it"),
  object: z.literal("batch"),
  endpoint: z.string(),
  errors: z.unknown().nullable(),
  input_file_id: z.string(),
  completion_window: z.string(),
  status: z.enum(["validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled"]),
  output_file_id: z.string().nullable(),
  error_file_id: z.string().nullable(),
  created_at: z.number().int(),
  in_progress_at: Timestamp,
  expires_at: Timestamp,
  finalizing_at: Timestamp,
  completed_at: Timestamp,
  failed_at: Timestamp,
  expired_at: Timestamp,
  cancelling_at: Timestamp,
  cancelled_at: Timestamp,
  request_counts: z.object({ total: z.number().int(), completed: z.number().int(), failed: z.number().int() }),
  metadata: z.record(z.string(), z.string()).nullable(),
  user_id: z.string().describe("The owner (the key's billing principal)"),
  api_key_id: z.string().describe("The key the batch's requests run as"),
});
export type BatchView = z.output<typeof BatchView>;

export const BatchDetailView = BatchView.extend({
  request_states: z.record(z.string(), z.number().int()).describe("How many of the batch's requests are in each state (pending, running, completed, failed, expired, cancelled)"),
});

export const BatchesQuery = Pagination.extend({
  status: z.enum(["validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled"]).optional(),
});

function toView(row: BatchRow): BatchView {
  return { ...batchObject(row), status: row.status as BatchView["status"], user_id: row.user_id, api_key_id: row.api_key_id };
}

export async function listBatches(c: Context<AdminApp>, { query }: AdminInput<never, typeof BatchesQuery>): Promise<Response> {
  const owner = listScope(c.get("actor"));
  const db = c.get("db");
  const filter = "WHERE ($1::uuid IS NULL OR user_id = $1) AND ($2::text IS NULL OR status = $2)";
  const page = await db.query<BatchRow>(`SELECT * FROM batches ${filter} ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4`, [owner, query.status ?? null, query.limit, query.skip]);
  const count = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM batches ${filter}`, [owner, query.status ?? null]);
  const body: Page<BatchView> = { data: page.rows.map(toView), total_count: count.rows[0]?.n ?? 0, skip: query.skip, limit: query.limit };
  return c.json(body);
}

export async function getBatch(c: Context<AdminApp>, { params }: AdminInput<"id">): Promise<Response> {
  const id = batchRowId(params.id);
  const actor = c.get("actor");
  const db = c.get("db");
  const { rows } = id ? await db.query<BatchRow>("SELECT * FROM batches WHERE id = $1", [id]) : { rows: [] };
  const row = rows[0];
  const owned = row !== undefined && (actor.activeOrganization ? row.user_id === actor.activeOrganization : actor.isManager || row.user_id === actor.userId);
  if (!row || !owned) throw notFound("batch", params.id);
  const states = await db.query<{ state: string; n: number }>("SELECT state, count(*)::int AS n FROM batch_requests WHERE batch_id = $1 GROUP BY state", [row.id]);
  return c.json({ ...toView(row), request_states: Object.fromEntries(states.rows.map((s) => [s.state, s.n])) });
}
