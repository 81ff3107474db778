/**
 * `/requests/aggregate` and `/requests/{id}`, parsed with zod so the console works against the
 * gateway it is served by whether or not it has the newer fields (group_by=key, TTFB percentiles).
 */
import * as z from "zod";
import { call } from "./client";

const Metrics = {
  requests: z.number(),
  prompt_tokens: z.number(),
  completion_tokens: z.number(),
  cached_tokens: z.number().optional(),
  cache_read_tokens: z.number().optional(),
  total_cost: z.string(),
  p50_duration_ms: z.number().nullable(),
  p95_duration_ms: z.number().nullable(),
  p50_ttfb_ms: z.number().nullable().optional(),
  p95_ttfb_ms: z.number().nullable().optional(),
};
export const Aggregate = z.object({
  bucket: z.string(),
  group_by: z.string(),
  created_after: z.string(),
  created_before: z.string(),
  totals: z.object(Metrics),
  groups: z.array(z.object({ key: z.string().nullable(), ...Metrics })),
  buckets: z.array(z.object({ start: z.string(), key: z.string().nullable(), ...Metrics })),
});
export type Aggregate = z.infer<typeof Aggregate>;
export type Metrics = Aggregate["totals"];

export interface AggregateParams {
  created_after: string;
  created_before: string;
  bucket: "hour" | "day";
  group_by: "model" | "user" | "key";
  model?: string;
  user_id?: string;
  api_key_id?: string;
}

export function fetchAggregate(p: AggregateParams): Promise<Aggregate> {
  const qs = new URLSearchParams(Object.entries(p).filter((e): e is [string, string] => typeof e[1] === "string"));
  return call("GET", `/admin/api/v1/requests/aggregate?${qs}`, (v) => Aggregate.parse(v));
}

/** Cached prompt tokens, whichever name the gateway gives them. */
export const cachedTokens = (m: Metrics) => m.cache_read_tokens ?? m.cached_tokens ?? 0;

const Dec = z.string();
const TariffRef = z
  .object({
    id: z.string(),
    name: z.string().nullable().optional(),
    purpose: z.string().nullable().optional(),
    completion_window: z.string().nullable().optional(),
    input_price_per_token: Dec.optional(),
    output_price_per_token: Dec.optional(),
    valid_from: z.string().optional(),
  })
  .passthrough();
export const RequestDetail = z
  .object({
    id: z.string(),
    event_id: z.string(),
    timestamp: z.string(),
    method: z.string(),
    uri: z.string(),
    model: z.string().nullable(),
    served_model: z.string().nullable(),
    status_code: z.number(),
    duration_ms: z.number(),
    duration_to_first_byte_ms: z.number().nullable(),
    prompt_tokens: z.number(),
    completion_tokens: z.number(),
    reasoning_tokens: z.number(),
    total_tokens: z.number(),
    cache_read_tokens: z.number(),
    cache_write_5m_tokens: z.number(),
    cache_write_1h_tokens: z.number(),
    cache_write_24h_tokens: z.number(),
    response_type: z.string(),
    finish_reason: z.string().nullable(),
    truncated: z.boolean(),
    user_id: z.string().nullable(),
    api_key_id: z.string().nullable(),
    access_source: z.string(),
    provider_name: z.string().nullable(),
    total_cost: z.string().nullable(),
    uncached_cost: z.string().nullable(),
    request_origin: z.string(),
    trace_id: z.string().nullable(),
    user_agent: z.string().nullable(),
    cost_breakdown: z
      .object({
        input: Dec,
        cache_read: Dec,
        cache_write_5m: Dec,
        cache_write_1h: Dec,
        cache_write_24h: Dec,
        output: Dec,
        total: Dec,
        tariff: TariffRef.nullable(),
        cache_tariff: z.record(z.string(), z.unknown()).nullable(),
      })
      .nullable()
      .optional(),
    stored_response: z.object({ id: z.string(), request_body: z.unknown(), response_body: z.unknown() }).nullable().optional(),
    // Composite models: the upstream attempts and the component that served (docs/routing.md).
    attempt_count: z.number().nullable().optional(),
    attempts: z.array(z.object({ component: z.string(), status: z.number(), error: z.string().nullable() })).nullable().optional(),
    served_component: z.string().nullable().optional(),
  })
  .passthrough();
export type RequestDetail = z.infer<typeof RequestDetail>;

export function fetchRequest(id: string): Promise<RequestDetail> {
  return call("GET", `/admin/api/v1/requests/${encodeURIComponent(id)}`, (v) => RequestDetail.parse(v));
}
