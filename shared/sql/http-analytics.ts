/**
 * The http_analytics write: one row per usage message, idempotent on event_id.
 */
import type { UsageMessageV1 } from "../usage-message.ts";
import { byKey } from "./lock-order.ts";
import { unnestInsert, unnestValues, type Column, type Query } from "./unnest-insert.ts";

/** A usage message after enrichment (who the key belongs to) and pricing. */
export interface AnalyticsRow {
  message: UsageMessageV1;
  userId: string | null;
  providerName: string | null;
  inputPricePerToken: string | null;
  outputPricePerToken: string | null;
  totalCost: string | null;
  uncachedCost: string | null;
  requestOrigin: string;
}

export const HTTP_ANALYTICS_COLUMNS: readonly Column<AnalyticsRow>[] = [
  ["event_id", "uuid", (r) => r.message.event_id],
  ["timestamp", "timestamptz", (r) => r.message.timestamp],
  ["method", "text", (r) => r.message.method],
  ["uri", "text", (r) => r.message.uri],
  ["model", "text", (r) => r.message.model],
  ["served_model", "text", (r) => r.message.served_model],
  ["status_code", "int", (r) => r.message.status_code],
  ["duration_ms", "bigint", (r) => Math.round(r.message.duration_ms)],
  ["duration_to_first_byte_ms", "bigint", (r) => (r.message.ttfb_ms === null ? null : Math.round(r.message.ttfb_ms))],
  ["prompt_tokens", "bigint", (r) => r.message.usage.prompt_tokens],
  ["completion_tokens", "bigint", (r) => r.message.usage.completion_tokens],
  ["reasoning_tokens", "bigint", (r) => r.message.usage.reasoning_tokens],
  ["total_tokens", "bigint", (r) => r.message.usage.total_tokens],
  ["cache_read_tokens", "bigint", (r) => r.message.cache.read_tokens],
  ["cache_write_5m_tokens", "bigint", (r) => r.message.cache.write_5m_tokens],
  ["cache_write_1h_tokens", "bigint", (r) => r.message.cache.write_1h_tokens],
  ["cache_write_24h_tokens", "bigint", (r) => r.message.cache.write_24h_tokens],
  ["response_type", "text", (r) => r.message.response_type],
  ["finish_reason", "text", (r) => r.message.finish_reason],
  ["truncated", "boolean", (r) => r.message.truncated],
  ["user_id", "uuid", (r) => r.userId],
  ["api_key_id", "uuid", (r) => (r.userId ? r.message.api_key_id : null)],
  ["access_source", "text", (r) => (r.message.access === "api_key" && !r.userId ? "unknown_api_key" : r.message.access)],
  ["provider_name", "text", (r) => r.providerName],
  ["input_price_per_token", "numeric", (r) => r.inputPricePerToken],
  ["output_price_per_token", "numeric", (r) => r.outputPricePerToken],
  ["total_cost", "numeric", (r) => r.totalCost],
  ["uncached_cost", "numeric", (r) => r.uncachedCost],
  ["fusillade_batch_id", "uuid", (r) => r.message.batch?.batch_id ?? null],
  ["fusillade_request_id", "uuid", (r) => r.message.batch?.request_id ?? null],
  ["custom_id", "text", (r) => r.message.batch?.custom_id ?? null],
  ["request_origin", "text", (r) => r.requestOrigin],
  ["batch_sla", "text", (r) => r.message.batch?.completion_window ?? ""],
  ["batch_request_source", "text", (r) => r.message.batch?.request_source ?? ""],
  ["trace_id", "text", (r) => r.message.trace_id],
  ["user_agent", "text", (r) => r.message.user_agent],
  ["usage_source", "text", (r) => r.message.usage_source ?? "upstream"],
  ["client_disconnected", "boolean", (r) => r.message.client_disconnected ?? false],
  ["gateway_cost", "numeric", (r) => r.message.gateway_cost ?? null],
  ["attempt_count", "int", (r) => r.message.routing?.attempts.length ?? null],
  ["attempts", "jsonb", (r) => (r.message.routing ? JSON.stringify(r.message.routing.attempts) : null)],
  ["served_component", "text", (r) => r.message.routing?.served_by ?? null],
];

/**
 * INSERT … ON CONFLICT (event_id) DO NOTHING RETURNING `returning` (event_id by default): only new rows come back. Rows go
 * in event_id order (unnest yields array order) so two consumers holding overlapping batches take
 * the unique-index locks in the same order: one waits for the other instead of deadlocking. The
 * order is set here rather than with ORDER BY, which costs milliseconds of planning on wide
 * UNNEST rows. `where`, if given, is a condition on which all rows are written or none.
 */
export function insertHttpAnalytics(rows: readonly AnalyticsRow[], where = "", returning = "event_id"): Query {
  const { text } = unnestInsert("http_analytics", HTTP_ANALYTICS_COLUMNS, [], `${where ? `WHERE ${where} ` : ""}ON CONFLICT (event_id) DO NOTHING RETURNING ${returning}`);
  return { text, values: httpAnalyticsValues(rows) };
}

/** The rows' column arrays, in event_id order (why: insertHttpAnalytics), for callers that bring their own statement. */
export function httpAnalyticsValues(rows: readonly AnalyticsRow[]): unknown[][] {
  return unnestValues(HTTP_ANALYTICS_COLUMNS, [...rows].sort(byKey((r) => r.message.event_id.toLowerCase())));
}
