/**
 * The admin API's analytics reads over `http_analytics`, as pure SQL builders: the gateway's
 * `/admin/api/v1/requests[/aggregate]` runs them, and `bench/analytics-plan.ts` EXPLAINs the very
 * same text. Every filter is a bound parameter; column names are fixed here, never taken from input.
 *
 * Time bounds apply to `timestamp` (when the gateway saw the request): `createdAfter` inclusive,
 * `createdBefore` exclusive, so adjacent windows never count a row twice.
 */

export interface AnalyticsFilters {
  userId?: string;
  apiKeyId?: string;
  model?: string;
  statusCode?: number;
  /** ISO 8601 instants. */
  createdAfter?: string;
  createdBefore?: string;
}

export type AnalyticsBucket = "hour" | "day";
export type AnalyticsGroupBy = "model" | "user" | "key";

export interface Sql {
  text: string;
  params: unknown[];
}

/**
 * `WHERE …` over the filters (empty without any), its parameters numbered from `$first`.
 *
 *   analyticsWhere({ userId: "u", createdAfter: "2026-01-01T00:00:00Z" }, 2)
 *   // → { text: 'WHERE user_id = $2 AND "timestamp" >= $3::timestamptz', params: ["u", "2026-…"] }
 */
export function analyticsWhere(f: AnalyticsFilters, first = 1): Sql {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    clauses.push(sql.replace("?", `$${first + params.length - 1}`));
  };
  if (f.userId !== undefined) add("user_id = ?", f.userId);
  if (f.apiKeyId !== undefined) add("api_key_id = ?", f.apiKeyId);
  if (f.model !== undefined) add("model = ?", f.model);
  if (f.statusCode !== undefined) add("status_code = ?", f.statusCode);
  if (f.createdAfter !== undefined) add(`"timestamp" >= ?::timestamptz`, f.createdAfter);
  if (f.createdBefore !== undefined) add(`"timestamp" < ?::timestamptz`, f.createdBefore);
  return { text: clauses.length ? `WHERE ${clauses.join(" AND ")}` : "", params };
}

// Spelled out, with bigints as float8 (exact far beyond any token count) and money as text.
export const REQUEST_COLUMNS = `id::text AS id, event_id, "timestamp", method, uri, model, served_model, status_code,
  duration_ms::float8 AS duration_ms, duration_to_first_byte_ms::float8 AS duration_to_first_byte_ms,
  prompt_tokens::float8 AS prompt_tokens, completion_tokens::float8 AS completion_tokens,
  reasoning_tokens::float8 AS reasoning_tokens, total_tokens::float8 AS total_tokens,
  cache_read_tokens::float8 AS cache_read_tokens, cache_write_5m_tokens::float8 AS cache_write_5m_tokens,
  cache_write_1h_tokens::float8 AS cache_write_1h_tokens, cache_write_24h_tokens::float8 AS cache_write_24h_tokens,
  response_type, finish_reason, truncated, user_id, api_key_id, access_source, provider_name,
  total_cost::text AS total_cost, uncached_cost::text AS uncached_cost, fusillade_batch_id, custom_id,
  request_origin, trace_id, user_agent, usage_source, client_disconnected, gateway_cost::text AS gateway_cost,
  attempt_count, attempts, served_component,
  (SELECT k.name FROM api_keys k WHERE k.id = http_analytics.api_key_id) AS api_key_name`;

/**
 * One page of rows, newest first (ties broken by id). The ORDER BY names the table's columns: the
 * bare `id` would be the output's `id::text`, which sorts 10 before 9.
 */
export function listRequestsSql(f: AnalyticsFilters, limit: number, skip: number): Sql {
  const where = analyticsWhere(f);
  const n = where.params.length;
  return {
    text: `SELECT ${REQUEST_COLUMNS} FROM http_analytics ${where.text} ORDER BY http_analytics."timestamp" DESC, http_analytics.id DESC LIMIT $${n + 1} OFFSET $${n + 2}`,
    params: [...where.params, limit, skip],
  };
}

/** The rows matching the filters, for `total_count`. */
export function countRequestsSql(f: AnalyticsFilters): Sql {
  const where = analyticsWhere(f);
  return { text: `SELECT count(*)::float8 AS n FROM http_analytics ${where.text}`, params: where.params };
}

/**
 * Totals, per-key totals and per-(bucket, key) rows in one pass over the filtered rows, via
 * GROUPING SETS; `level` tells them apart (3 = totals, 2 = per key, 0 = per bucket and key).
 * Buckets are truncated in UTC. Costs are summed as NUMERIC and returned as text; durations' and
 * times to first byte's p50/p95 are percentile_cont (interpolated; rows without a TTFB are skipped).
 */
export function aggregateRequestsSql(f: AnalyticsFilters, bucket: AnalyticsBucket, groupBy: AnalyticsGroupBy): Sql {
  const where = analyticsWhere(f, 2);
  const key = groupBy === "model" ? "model" : groupBy === "user" ? "user_id::text" : "api_key_id::text";
  return {
    text: `SELECT GROUPING(bucket, key) AS level, bucket, key,
         count(*)::float8 AS requests,
         coalesce(sum(prompt_tokens), 0)::float8 AS prompt_tokens,
         coalesce(sum(completion_tokens), 0)::float8 AS completion_tokens,
         coalesce(sum(cache_read_tokens), 0)::float8 AS cached_tokens,
         coalesce(sum(total_cost), 0)::text AS total_cost,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_duration_ms,
         percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_duration_ms,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_to_first_byte_ms) AS p50_ttfb_ms,
         percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_to_first_byte_ms) AS p95_ttfb_ms
    FROM (SELECT date_trunc($1, "timestamp", 'UTC') AS bucket, ${key} AS key,
                 prompt_tokens, completion_tokens, cache_read_tokens, total_cost, duration_ms, duration_to_first_byte_ms
            FROM http_analytics ${where.text}) f
   GROUP BY GROUPING SETS ((), (key), (bucket, key))
   ORDER BY level DESC, bucket, key NULLS LAST`,
    params: [bucket, ...where.params],
  };
}
