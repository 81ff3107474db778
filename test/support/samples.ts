/** Sample queue messages for tests (Node and workerd alike: no Node APIs here). */
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
