import { describe, expect, it } from "vitest";
import {
  clipUsageMessage,
  QUEUE_BATCH_MAX_BYTES,
  QUEUE_BATCH_MAX_MESSAGES,
  queueBatches,
  UsageMessageSchema,
  usageFromOpenAI,
  usageMessageBytesBound,
  ZERO_USAGE,
  type UsageMessageV1,
} from "../../shared/usage-message.ts";
import { sampleMessage } from "../support/samples.ts";

describe("usage message schema", () => {
  it("accepts a well-formed v1 message", () => {
    const msg = sampleMessage();
    expect(UsageMessageSchema.parse(msg)).toEqual(msg);
  });

  it("rejects unknown versions, negative tokens, and bad ids", () => {
    expect(UsageMessageSchema.safeParse({ ...sampleMessage(), v: 2 }).success).toBe(false);
    expect(UsageMessageSchema.safeParse(sampleMessage({ usage: { ...ZERO_USAGE, prompt_tokens: -1 } })).success).toBe(false);
    expect(UsageMessageSchema.safeParse(sampleMessage({ event_id: "not-a-uuid" })).success).toBe(false);
    expect(UsageMessageSchema.safeParse("garbage").success).toBe(false);
  });

  it("drops fields it does not know, so nothing unexpected is stored", () => {
    const parsed = UsageMessageSchema.parse({ ...sampleMessage(), authorization: "Bearer tg-secret" });
    expect(JSON.stringify(parsed)).not.toContain("tg-secret");
  });
});

describe("usageFromOpenAI", () => {
  it("reads the chat completions shape", () => {
    expect(
      usageFromOpenAI({
        prompt_tokens: 10,
        completion_tokens: 5,
        total_tokens: 15,
        prompt_tokens_details: { cached_tokens: 4 },
        completion_tokens_details: { reasoning_tokens: 2 },
      }),
    ).toEqual({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, reasoning_tokens: 2, cached_tokens: 4 });
  });

  it("reads the responses API shape", () => {
    expect(
      usageFromOpenAI({ input_tokens: 8, output_tokens: 3, total_tokens: 11, input_tokens_details: { cached_tokens: 1 }, output_tokens_details: { reasoning_tokens: 1 } }),
    ).toEqual({ prompt_tokens: 8, completion_tokens: 3, total_tokens: 11, reasoning_tokens: 1, cached_tokens: 1 });
  });

  it("treats missing or nonsense values as zero and derives the total", () => {
    expect(usageFromOpenAI(undefined)).toEqual(ZERO_USAGE);
    expect(usageFromOpenAI({ prompt_tokens: "7", completion_tokens: -2 })).toEqual(ZERO_USAGE);
    expect(usageFromOpenAI({ prompt_tokens: 7, completion_tokens: 2 }).total_tokens).toBe(9);
  });
});

describe("queue limits", () => {
  const jsonBytes = (m: UsageMessageV1) => new TextEncoder().encode(JSON.stringify(m)).length;
  // Control characters are the worst case: each becomes a six-byte \uXXXX escape in JSON.
  const hostile = (n: number) => "\u0001".repeat(n);
  const hostileMessage = () =>
    clipUsageMessage(
      sampleMessage({
        model: hostile(1_000_000),
        served_model: hostile(100_000),
        finish_reason: hostile(10_000),
        user_agent: hostile(100_000),
        trace_id: "0af7651916cd43dd8448eb211c80319c",
        ttfb_ms: Number.MAX_SAFE_INTEGER,
        duration_ms: Number.MAX_SAFE_INTEGER,
        usage: { prompt_tokens: Number.MAX_SAFE_INTEGER, completion_tokens: Number.MAX_SAFE_INTEGER, reasoning_tokens: Number.MAX_SAFE_INTEGER, total_tokens: Number.MAX_SAFE_INTEGER, cached_tokens: Number.MAX_SAFE_INTEGER },
        cache: { read_tokens: Number.MAX_SAFE_INTEGER, write_5m_tokens: Number.MAX_SAFE_INTEGER, write_1h_tokens: Number.MAX_SAFE_INTEGER, write_24h_tokens: Number.MAX_SAFE_INTEGER },
        response_type: "stream_error",
        batch: {
          batch_id: crypto.randomUUID(),
          request_id: crypto.randomUUID(),
          custom_id: hostile(100_000),
          completion_window: hostile(1_000),
          created_at: new Date().toISOString(),
          request_source: hostile(1_000),
        },
      }),
    );

  it("client- and upstream-supplied text is cut to a bounded length; ordinary messages are untouched", () => {
    const ordinary = sampleMessage();
    expect(clipUsageMessage(ordinary)).toBe(ordinary);
    const m = hostileMessage();
    expect(m.model!.length).toBe(256);
    expect(m.user_agent!.length).toBe(512);
    expect(m.batch!.custom_id!.length).toBe(512);
    expect(UsageMessageSchema.safeParse(m).success).toBe(true);
    // One message can never reach the 128 KB per-message limit.
    expect(jsonBytes(m)).toBeLessThan(128_000);
  });

  it("the size bound is never below the real JSON size", () => {
    for (const m of [sampleMessage(), hostileMessage(), sampleMessage({ model: "é".repeat(256), user_agent: null, finish_reason: null })]) {
      expect(usageMessageBytesBound(m)).toBeGreaterThanOrEqual(jsonBytes(m));
    }
  });

  it("batches hold at most 100 messages and 256 KB, and keep every message in order", () => {
    const small = Array.from({ length: 250 }, () => sampleMessage());
    expect(queueBatches(small).map((b) => b.length)).toEqual([100, 100, 50]);
    const mixed = [...Array.from({ length: 60 }, hostileMessage), ...small.slice(0, 10)];
    const batches = queueBatches(mixed);
    for (const batch of batches) {
      expect(batch.length).toBeLessThanOrEqual(QUEUE_BATCH_MAX_MESSAGES);
      expect(batch.reduce((n, m) => n + jsonBytes(m), 0)).toBeLessThanOrEqual(QUEUE_BATCH_MAX_BYTES);
    }
    expect(batches.length).toBeGreaterThan(1);
    expect(batches.flat()).toEqual(mixed);
    expect(queueBatches([])).toEqual([]);
  });
});
