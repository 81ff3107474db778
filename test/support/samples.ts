/** Sample queue messages for tests (Node and workerd alike: no Node APIs here). */
import type { ResponseMessageV1 } from "../../shared/response-message.ts";
import { ZERO_CACHE, ZERO_USAGE, type UsageMessageV1 } from "../../shared/usage-message.ts";

export function sampleMessage(overrides: Partial<UsageMessageV1> = {}): UsageMessageV1 {
  return {
    v: 1,
    event_id: crypto.randomUUID(),
    timestamp: new Date().toISOString(),
    method: "POST",
    uri: "/ai/v1/chat/completions",
    access: "api_key",
    api_key_id: crypto.randomUUID(),
    model: "demo-model",
    served_model: "mock-gpt",
    status_code: 200,
    duration_ms: 12,
    ttfb_ms: 5,
    usage: { ...ZERO_USAGE, prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
    cache: { ...ZERO_CACHE },
    response_type: "json",
    finish_reason: "stop",
    truncated: false,
    trace_id: null,
    user_agent: "test",
    batch: null,
    ...overrides,
  };
}

/** A stored-response queue message with small inline bodies. */
export function sampleResponseMessage(overrides: Partial<ResponseMessageV1> = {}): ResponseMessageV1 {
  const id = overrides.id ?? `resp_${crypto.randomUUID().replace(/-/g, "")}`;
  const now = Date.now();
  return {
    kind: "response",
    v: 1,
    id,
    event_id: crypto.randomUUID(),
    api_key_id: crypto.randomUUID(),
    model: "demo-model",
    status: "completed",
    service_tier: "priority",
    response_status: 200,
    previous_response_id: null,
    created_at: new Date(now - 40).toISOString(),
    completed_at: new Date(now).toISOString(),
    duration_ms: 40,
    request_body: JSON.stringify({ model: "demo-model", input: "hi" }),
    response_body: JSON.stringify({ id, object: "response", status: "completed", model: "demo-model", output: [] }),
    body_object_key: null,
    ...overrides,
  };
}
