/**
 * The admin views of stored responses (rows of `requests`), at the reference's paths:
 *
 *   GET    /admin/api/v1/batches/requests        list, newest first, with tokens and cost
 *   GET    /admin/api/v1/batches/requests/{id}   one response with its bodies
 *   DELETE /admin/api/v1/batches/requests/{id}   hard delete (row and R2 object; usage and ledger stay)
 *
 * Managers see everyone's; everyone else sees only their own, and another owner's id answers 404
 * exactly as an unknown one does. In organization context the list shows the organization's rows
 * (for managers too). Only managers may filter by `member_id` (400 otherwise).
 * Tokens and cost come from the request's `http_analytics` row when it has been written.
 */
import type { Context } from "hono";
import * as z from "zod";
import { batchPublicId } from "../../../../shared/batch-message.ts";
import { ApiError, errorMessage } from "../../../../shared/errors.ts";
import { RESPONSE_ID } from "../../../../shared/response-message.ts";
import { readStoredBodies } from "../responses.ts";
import { listScope, type Actor, type AdminApp } from "./principal.ts";
import { notFound, Pagination, pathKeySchema, type Page, type AdminInput } from "./validation.ts";

const commaList = z
  .string()
  .max(2000)
  .transform((s) => s.split(",").map((t) => t.trim()).filter((t) => t !== ""));

export const StoredResponsesQuery = Pagination.extend({
  member_id: z.uuid().optional(),
  model: commaList.optional(),
  status: z.string().max(100).optional(),
  service_tiers: commaList.optional(),
  created_after: z.iso.datetime({ offset: true }).optional(),
  created_before: z.iso.datetime({ offset: true }).optional(),
  // Accepted for the reference's clients; every stored row is already finished, so it orders nothing.
  active_first: z.enum(["true", "false"]).optional(),
});

type SummaryRow = {
  id: string;
  batch_id: string | null;
  model: string;
  status: string;
  service_tier: string | null;
  response_status: number | null;
  created_at: string;
  completed_at: string | null;
  duration_ms: number | null;
  created_by: string;
  created_by_email: string | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  reasoning_tokens: number | null;
  total_tokens: number | null;
  total_cost: string | null;
};

type DetailRow = SummaryRow & { request_body: string | null; response_body: string | null; body_object_key: string | null };

export const ResponseSummary = z.object({
  id: z.string(),
  batch_id: z.string().nullable().describe("The batch (`batch_…`) whose request this was; null for a Responses API call"),
  model: z.string(),
  status: z.string(),
  created_at: z.string(),
  completed_at: z.string().nullable(),
  failed_at: z.string().nullable(),
  duration_ms: z.number().int().nullable(),
  response_status: z.number().int().nullable(),
  service_tier: z.string().nullable(),
  prompt_tokens: z.number().int().nullable(),
  completion_tokens: z.number().int().nullable(),
  reasoning_tokens: z.number().int().nullable(),
  total_tokens: z.number().int().nullable(),
  total_cost: z.string().nullable().describe("Decimal string (never a float)"),
  created_by_email: z.string().nullable(),
});
export type ResponseSummary = z.output<typeof ResponseSummary>;

export const ResponseDetail = ResponseSummary.extend({
  body: z.string().describe("The request body as sent"),
  response_body: z.string().nullable(),
  error: z.string().nullable(),
  created_by: z.string(),
});
export type ResponseDetail = z.output<typeof ResponseDetail>;

// Timestamps come back as ISO text from SQL so no driver parsing is involved.
const COLUMNS = `r.id, r.batch_id::text AS batch_id, r.model, r.status, r.service_tier, r.response_status,
  to_json(r.created_at) #>> '{}' AS created_at, to_json(r.completed_at) #>> '{}' AS completed_at,
  r.duration_ms::int AS duration_ms, r.created_by::text AS created_by, u.email AS created_by_email,
  ha.prompt_tokens::int AS prompt_tokens, ha.completion_tokens::int AS completion_tokens,
  ha.reasoning_tokens::int AS reasoning_tokens, ha.total_tokens::int AS total_tokens, ha.total_cost::text AS total_cost`;
const FROM = `FROM requests r
  LEFT JOIN users u ON u.id = r.created_by
  LEFT JOIN http_analytics ha ON ha.event_id = r.event_id`;

function toSummary(row: SummaryRow): ResponseSummary {
  return {
    id: row.id,
    batch_id: row.batch_id === null ? null : batchPublicId(row.batch_id),
    model: row.model,
    status: row.status,
    created_at: row.created_at,
    completed_at: row.completed_at,
    failed_at: row.status === "failed" ? row.completed_at : null,
    duration_ms: row.duration_ms,
    response_status: row.response_status,
    service_tier: row.service_tier,
    prompt_tokens: row.prompt_tokens,
    completion_tokens: row.completion_tokens,
    reasoning_tokens: row.reasoning_tokens,
    total_tokens: row.total_tokens,
    total_cost: row.total_cost,
    created_by_email: row.created_by_email,
  };
}

/**
 * Whose rows the list may show, in the reference's order: a member (managers only), else the
 * active organization (for managers too), else everyone's for managers, else the caller's own.
 */
function ownerFilter(actor: Actor, memberId: string | undefined): string | null {
  if (memberId !== undefined) {
    if (!actor.isManager) throw new ApiError("invalid_request_error", "The member_id filter needs the platform_manager role.", { param: "member_id" });
    return memberId;
  }
  return listScope(actor) ?? null;
}

export async function listStoredResponses(c: Context<AdminApp>, parsed: AdminInput<never, typeof StoredResponsesQuery>): Promise<Response> {
  const q = parsed.query;
  const where: string[] = [];
  const values: unknown[] = [];
  const add = (sql: (n: string) => string, value: unknown) => {
    values.push(value);
    where.push(sql(`$${values.length}`));
  };
  const owner = ownerFilter(c.get("actor"), q.member_id);
  if (owner !== null) add((p) => `r.created_by = ${p}::uuid`, owner);
  if (q.model?.length) add((p) => `r.model = ANY(${p}::text[])`, q.model);
  if (q.status) add((p) => `r.status = ${p}`, q.status);
  if (q.service_tiers?.length) add((p) => `r.service_tier = ANY(${p}::text[])`, q.service_tiers);
  if (q.created_after) add((p) => `r.created_at > ${p}::timestamptz`, q.created_after);
  if (q.created_before) add((p) => `r.created_at < ${p}::timestamptz`, q.created_before);
  const filter = where.length ? `WHERE ${where.join(" AND ")}` : "";
  const db = c.get("db");
  // One after the other: an admin request holds at most one connection.
  const page = await db.query<SummaryRow>(
    `SELECT ${COLUMNS} ${FROM} ${filter} ORDER BY r.created_at DESC, r.id LIMIT $${values.length + 1} OFFSET $${values.length + 2}`,
    [...values, q.limit, q.skip],
  );
  const count = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM requests r ${filter}`, values);
  const body: Page<ResponseSummary> = { data: page.rows.map(toSummary), total_count: count.rows[0]?.n ?? 0, skip: q.skip, limit: q.limit };
  return c.json(body);
}

/** The row if the actor may see it; 404 otherwise (unknown and foreign ids alike). */
async function visibleRow(c: Context<AdminApp>, id: string): Promise<DetailRow> {
  const { rows } = await c.get("db").query<DetailRow>(
    `SELECT ${COLUMNS}, r.request_body, r.response_body, r.body_object_key ${FROM} WHERE r.id = $1`,
    [id],
  );
  const row = rows[0];
  const actor = c.get("actor");
  const owned = row !== undefined && (row.created_by === actor.userId || row.created_by === actor.activeOrganization);
  if (!row || (!actor.isManager && !owned)) throw notFound("response", id);
  return row;
}

/** `{id}` of /batches/requests/{id}: a `resp_…` id (anything else is the 404 a missing one gets). */
export const StoredResponseId = pathKeySchema(RESPONSE_ID, (id) => notFound("response", id));

export async function getStoredResponse(c: Context<AdminApp>, parsed: AdminInput<"id">): Promise<Response> {
  const row = await visibleRow(c, parsed.params.id);
  let requestBody = row.request_body;
  let responseBody = row.response_body;
  if (row.body_object_key) {
    const bodies = await readStoredBodies(c.env.RESPONSES_BUCKET, row.body_object_key);
    requestBody = bodies?.request_body ?? null;
    responseBody = bodies?.response_body ?? null;
  }
  const detail: ResponseDetail = { ...toSummary(row), body: requestBody ?? "", response_body: responseBody, error: null, created_by: row.created_by };
  return c.json(detail);
}

/** Hard delete for erasure: the row and its R2 object. Usage records and the ledger are kept. */
export async function deleteStoredResponse(c: Context<AdminApp>, parsed: AdminInput<"id">): Promise<Response> {
  const row = await visibleRow(c, parsed.params.id);
  await c.get("db").query("DELETE FROM requests WHERE id = $1", [row.id]);
  if (row.body_object_key) {
    try {
      await c.env.RESPONSES_BUCKET.delete(row.body_object_key);
    } catch (err) {
      console.error(`stored response ${row.id} deleted, but its R2 object ${row.body_object_key} was not: ${errorMessage(err)}`);
    }
  }
  return c.body(null, 204);
}
