/**
 * `/requests` and `/requests/aggregate`: usage analytics over `http_analytics`, one row per
 * inference request (refused ones included), written by the consumer.
 *
 * platform_manager, billing_manager and request_viewer see every row; anyone else sees only rows
 * billed to their own user. A filter naming another user answers 404, as that user's id does
 * everywhere else, so a standard user cannot learn whether it exists.
 *
 * Time filters apply to `timestamp` (when the gateway saw the request): `created_after` is
 * inclusive, `created_before` exclusive. Every filter combination the API offers is served by an
 * index that ends in `timestamp` (see migrations/); `bench/analytics-plan.ts` shows the plans of
 * the queries (`shared/sql/analytics-query.ts`).
 */
import type { Context } from "hono";
import * as z from "zod";
import { ApiError } from "../../../../shared/errors.ts";
import { aggregateRequestsSql, countRequestsSql, listRequestsSql, type AnalyticsFilters } from "../../../../shared/sql/analytics-query.ts";
import { aggregateFromRollupSql, histogramValue, ROLLUP_MIN_WINDOW_MS } from "../../../../shared/sql/analytics-rollup.ts";
import { UUID } from "../../../../shared/uuid.ts";
import { listScope, type Actor, type AdminApp, type Role } from "./principal.ts";
import { notFound, Pagination, type Page, type AdminInput } from "./validation.ts";

/** Roles that read everyone's analytics. */
const VIEWER_ROLES: readonly Role[] = ["platform_manager", "billing_manager", "request_viewer"];

const Uuid = z
  .string()
  .regex(UUID, { error: "must be a UUID" })
  .transform((s) => s.toLowerCase());
const Instant = z.iso.datetime({ offset: true, error: "must be an ISO 8601 date-time such as 2026-01-31T00:00:00Z" });

const FILTERS = {
  user_id: Uuid.optional(),
  api_key_id: Uuid.optional(),
  model: z.string().min(1).max(200).optional().describe("The model alias clients sent"),
  status_code: z.coerce.number().int().min(100).max(599).optional(),
  created_after: Instant.optional().describe("Inclusive lower bound on the request's timestamp"),
  created_before: Instant.optional().describe("Exclusive upper bound on the request's timestamp"),
};
type Filters = { user_id?: string; api_key_id?: string; model?: string; status_code?: number; created_after?: string; created_before?: string };

export const RequestsQuery = z.strictObject({ ...FILTERS, ...Pagination.shape });

export const BUCKETS = ["hour", "day"] as const;
export const GROUP_BY = ["model", "user", "key"] as const;
export const AggregateQuery = z.strictObject({
  ...FILTERS,
  bucket: z.enum(BUCKETS).default("day"),
  group_by: z.enum(GROUP_BY).default("model"),
});

export const RequestView = z.object({
  id: z.string().describe("Row id (a bigint, as a string)"),
  event_id: z.uuid(),
  timestamp: z.iso.datetime(),
  method: z.string(),
  uri: z.string(),
  model: z.string().nullable(),
  served_model: z.string().nullable(),
  status_code: z.number().int(),
  duration_ms: z.number(),
  duration_to_first_byte_ms: z.number().nullable(),
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  reasoning_tokens: z.number().int(),
  total_tokens: z.number().int(),
  cache_read_tokens: z.number().int(),
  cache_write_5m_tokens: z.number().int(),
  cache_write_1h_tokens: z.number().int(),
  cache_write_24h_tokens: z.number().int(),
  response_type: z.string(),
  finish_reason: z.string().nullable(),
  truncated: z.boolean(),
  user_id: z.uuid().nullable(),
  api_key_id: z.uuid().nullable(),
  api_key_name: z.string().nullable().describe("The key's name (null when the request had no key, or the key's row is gone)"),
  access_source: z.string(),
  provider_name: z.string().nullable(),
  total_cost: z.string().nullable().describe("Decimal string"),
  uncached_cost: z.string().nullable().describe("Decimal string: the cost had nothing been served from the prompt cache"),
  fusillade_batch_id: z.uuid().nullable(),
  custom_id: z.string().nullable(),
  request_origin: z.string(),
  trace_id: z.string().nullable(),
  user_agent: z.string().nullable(),
  usage_source: z.enum(["upstream", "estimated", "clamped"]).describe("Where the token counts come from: the upstream's report, Tollgate's own count (report missing or invalid), or a count cut to the maximum"),
  client_disconnected: z.boolean().describe("The client went away before the response ended"),
  gateway_cost: z.string().nullable().describe("Decimal string: the gateway's price when it answered; total_cost (what the ledger charged) wins when they differ"),
  attempt_count: z.number().int().nullable().describe("Composite models: upstream attempts made (null for a plain alias)"),
  attempts: z
    .array(z.object({ component: z.string(), status: z.number().int(), error: z.enum(["connect", "timeout", "capacity"]).nullable() }))
    .nullable()
    .describe("Composite models: each attempt in order — the component's alias, the status (502 connect error, 504 timeout, 429 no capacity, else the upstream's) and which gateway error it was"),
  served_component: z.string().nullable().describe("Composite models: the component alias that served (null when none did)"),
});
export type RequestView = z.output<typeof RequestView>;

const Metrics = {
  requests: z.number().int(),
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  cached_tokens: z.number().int().describe("Prompt tokens read from the prompt cache"),
  cache_read_tokens: z.number().int().describe("The same as cached_tokens: cache-hit rate = cache_read_tokens / prompt_tokens"),
  total_cost: z.string().describe("Decimal string"),
  p50_duration_ms: z.number().nullable(),
  p95_duration_ms: z.number().nullable(),
  p50_ttfb_ms: z.number().nullable().describe("Median time to first byte (rows that have one)"),
  p95_ttfb_ms: z.number().nullable(),
};
const Key = z.string().nullable().describe("The model alias, user id or API key id, per `group_by`");
export const AggregateView = z.object({
  bucket: z.enum(BUCKETS),
  group_by: z.enum(GROUP_BY),
  created_after: z.iso.datetime(),
  created_before: z.iso.datetime(),
  totals: z.object(Metrics),
  groups: z.array(z.object({ key: Key, ...Metrics })),
  buckets: z.array(z.object({ start: z.iso.datetime(), key: Key, ...Metrics })),
});
export type AggregateView = z.output<typeof AggregateView>;

type RequestRow = Omit<RequestView, "timestamp"> & { timestamp: Date | string };

const iso = (v: Date | string): string => new Date(v).toISOString();

/**
 * Whose rows the actor may read: in organization context the organization's (for viewers too);
 * outside it, everyone's (null) for viewer roles, else their own.
 */
export function requestScope(actor: Actor): string | null {
  return listScope(actor, actor.roles.some((r) => VIEWER_ROLES.includes(r)));
}

/** The filters the actor may apply: viewers as asked, anyone else pinned to their own user. */
function scoped(actor: Actor, filters: Filters): Filters {
  const scope = requestScope(actor);
  if (scope === null) return filters;
  if (filters.user_id !== undefined && filters.user_id !== scope) throw notFound("user", filters.user_id);
  return { ...filters, user_id: scope };
}

function checkRange(f: Filters): void {
  if (f.created_after !== undefined && f.created_before !== undefined && Date.parse(f.created_after) >= Date.parse(f.created_before)) {
    throw new ApiError("invalid_request_error", "Invalid query field 'created_before': must be later than created_after.", { param: "created_before" });
  }
}

/** The API's snake_case filters as the query builders spell them. */
function toFilters(f: Filters): AnalyticsFilters {
  return {
    ...(f.user_id !== undefined ? { userId: f.user_id } : {}),
    ...(f.api_key_id !== undefined ? { apiKeyId: f.api_key_id } : {}),
    ...(f.model !== undefined ? { model: f.model } : {}),
    ...(f.status_code !== undefined ? { statusCode: f.status_code } : {}),
    ...(f.created_after !== undefined ? { createdAfter: f.created_after } : {}),
    ...(f.created_before !== undefined ? { createdBefore: f.created_before } : {}),
  };
}

export async function listRequests(c: Context<AdminApp>, parsed: AdminInput<never, typeof RequestsQuery>): Promise<Response> {
  const query = parsed.query;
  const { skip, limit, ...rest } = query;
  checkRange(rest);
  const filters = toFilters(scoped(c.get("actor"), rest));
  const list = listRequestsSql(filters, limit, skip);
  const total = countRequestsSql(filters);
  // One after the other: an admin request holds at most one connection.
  const page = await c.get("db").query<RequestRow>(list.text, list.params);
  const count = await c.get("db").query<{ n: number }>(total.text, total.params);
  const body: Page<RequestView> = {
    data: page.rows.map((r) => ({ ...r, timestamp: iso(r.timestamp) })),
    total_count: count.rows[0]?.n ?? 0,
    skip,
    limit,
  };
  return c.json(body);
}

const HOUR_MS = 3_600_000;
/** Default window, and the widest one allowed, per bucket size: a bounded number of buckets per key. */
const WINDOWS: Record<(typeof BUCKETS)[number], { defaultMs: number; maxMs: number }> = {
  hour: { defaultMs: 24 * HOUR_MS, maxMs: 31 * 24 * HOUR_MS },
  day: { defaultMs: 30 * 24 * HOUR_MS, maxMs: 731 * 24 * HOUR_MS },
};

interface AggregateRow {
  level: number;
  bucket: Date | string | null;
  key: string | null;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  total_cost: string;
  p50_duration_ms: number | null;
  p95_duration_ms: number | null;
  p50_ttfb_ms: number | null;
  p95_ttfb_ms: number | null;
}

/**
 * Long windows over all traffic (or one model) are read from the hourly/daily rollup: sums exact,
 * percentiles from its histograms (see shared/sql/analytics-rollup.ts for the error bound). Short
 * windows, and any filter on a user, key or status, read the raw rows (exact percentile_cont).
 */
function usesRollup(f: Filters, groupBy: (typeof GROUP_BY)[number], after: string, before: string): boolean {
  return groupBy === "model" && f.user_id === undefined && f.api_key_id === undefined && f.status_code === undefined && Date.parse(before) - Date.parse(after) >= ROLLUP_MIN_WINDOW_MS;
}

type RollupRow = Omit<AggregateRow, "p50_duration_ms" | "p95_duration_ms" | "p50_ttfb_ms" | "p95_ttfb_ms"> & {
  p50_duration_bucket: number | null;
  p95_duration_bucket: number | null;
  p50_ttfb_bucket: number | null;
  p95_ttfb_bucket: number | null;
};

async function fromRollup(c: Context<AdminApp>, after: string, before: string, bucket: (typeof BUCKETS)[number], model: string | undefined): Promise<AggregateRow[]> {
  const q = aggregateFromRollupSql(after, before, bucket, model);
  const { rows } = await c.get("db").query<RollupRow>(q.text, q.params);
  const value = (b: number | null) => (b === null ? null : histogramValue(b));
  return rows.map(({ p50_duration_bucket, p95_duration_bucket, p50_ttfb_bucket, p95_ttfb_bucket, ...r }) => ({
    ...r,
    p50_duration_ms: value(p50_duration_bucket),
    p95_duration_ms: value(p95_duration_bucket),
    p50_ttfb_ms: value(p50_ttfb_bucket),
    p95_ttfb_ms: value(p95_ttfb_bucket),
  }));
}

export async function aggregateRequests(c: Context<AdminApp>, parsed: AdminInput<never, typeof AggregateQuery>): Promise<Response> {
  const { bucket, group_by, ...rest } = parsed.query;
  checkRange(rest);
  const filters = scoped(c.get("actor"), rest);
  const window = WINDOWS[bucket];
  const before = filters.created_before ?? new Date().toISOString();
  const after = filters.created_after ?? new Date(Date.parse(before) - window.defaultMs).toISOString();
  if (Date.parse(before) - Date.parse(after) > window.maxMs) {
    throw new ApiError("invalid_request_error", `Invalid query field 'created_after': with bucket=${bucket} the window may span at most ${window.maxMs / (24 * HOUR_MS)} days.`, {
      param: "created_after",
    });
  }
  const raw = () => {
    const q = aggregateRequestsSql(toFilters({ ...filters, created_after: after, created_before: before }), bucket, group_by);
    return c.get("db").query<AggregateRow>(q.text, q.params).then((r) => r.rows);
  };
  const rows = usesRollup(filters, group_by, after, before) ? await fromRollup(c, after, before, bucket, filters.model) : await raw();
  const num = (v: number | null) => (v === null ? null : Number(v));
  const metrics = (r: AggregateRow) => ({
    requests: r.requests,
    prompt_tokens: r.prompt_tokens,
    completion_tokens: r.completion_tokens,
    cached_tokens: r.cached_tokens,
    cache_read_tokens: r.cached_tokens,
    total_cost: r.total_cost,
    p50_duration_ms: num(r.p50_duration_ms),
    p95_duration_ms: num(r.p95_duration_ms),
    p50_ttfb_ms: num(r.p50_ttfb_ms),
    p95_ttfb_ms: num(r.p95_ttfb_ms),
  });
  const totals = rows.find((r) => r.level === 3);
  const body: AggregateView = {
    bucket,
    group_by,
    created_after: iso(after),
    created_before: iso(before),
    // GROUPING SETS always yields the () row, even over no rows at all.
    totals: totals ? metrics(totals) : { requests: 0, prompt_tokens: 0, completion_tokens: 0, cached_tokens: 0, cache_read_tokens: 0, total_cost: "0", p50_duration_ms: null, p95_duration_ms: null, p50_ttfb_ms: null, p95_ttfb_ms: null },
    groups: rows.filter((r) => r.level === 2).map((r) => ({ key: r.key, ...metrics(r) })),
    buckets: rows.filter((r) => r.level === 0).map((r) => ({ start: iso(r.bucket!), key: r.key, ...metrics(r) })),
  };
  return c.json(body);
}
