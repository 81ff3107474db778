import { isDeepStrictEqual } from "node:util";
import { describe, expect, it } from "vitest";
import {
  clipUsageMessage,
  isUsageBundle,
  MAX_TOKEN_COUNT,
  repairUsageRecord,
  upstreamUsage,
  QUEUE_MESSAGE_MAX_BYTES,
  USAGE_BUNDLE_MAX_RECORDS,
  UsageBundleSchema,
  usageBundles,
  UsageMessageSchema,
  usageFromOpenAI,
  usageMessageBytesBound,
  usageRecordNeedsRepair,
  ZERO_USAGE,
  type UsageMessageV1,
} from "../../shared/usage-message.ts";
import { sampleMessage } from "../support/samples.ts";

describe("usage message schema", () => {
  it("accepts a well-formed v1 message", () => {
    const msg = sampleMessage();
    expect(UsageMessageSchema.parse(msg)).toEqual(msg);
  });

  it("routing is optional (messages of earlier gateways stay valid) and bounded", () => {
    const { routing: _, ...plain } = sampleMessage({ routing: null });
    expect(UsageMessageSchema.safeParse(plain).success).toBe(true);
    const attempt = { component: "a", status: 503, error: null };
    expect(UsageMessageSchema.safeParse(sampleMessage({ routing: { attempts: [attempt], served_by: "a" } })).success).toBe(true);
    expect(UsageMessageSchema.safeParse(sampleMessage({ routing: { attempts: Array(11).fill(attempt), served_by: null } })).success).toBe(false);
    expect(UsageMessageSchema.safeParse(sampleMessage({ routing: { attempts: [{ ...attempt, error: "dns" }], served_by: null } as never })).success).toBe(false);
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
  // Lone surrogates are the worst case left once control characters are stripped: each becomes a
  // six-byte \uXXXX escape in JSON.
  const hostile = (n: number) => "\ud800".repeat(n);
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
    expect(clipUsageMessage(ordinary)).toEqual(ordinary);
    const m = hostileMessage();
    expect(m.model!.length).toBe(256);
    expect(m.user_agent!.length).toBe(512);
    expect(m.batch!.custom_id!.length).toBe(512);
    expect(UsageMessageSchema.safeParse(m).success).toBe(true);
    // One record can never reach the queue's per-message limit.
    expect(jsonBytes(m)).toBeLessThan(128_000);
  });

  it("the size bound is never below the real JSON size", () => {
    const M = Number.MAX_VALUE; // the longest a JSON number gets: 1.7976931348623157e+308
    const longestFixed = sampleMessage({
      model: "", served_model: "", finish_reason: "", user_agent: "", method: "", uri: "", response_type: "",
      access: "unknown_api_key", status_code: 599, duration_ms: M, ttfb_ms: M, trace_id: "0af7651916cd43dd8448eb211c80319c",
      timestamp: "+275760-09-13T00:00:00.000+00:00",
      usage: { prompt_tokens: M, completion_tokens: M, reasoning_tokens: M, total_tokens: M, cached_tokens: M },
      cache: { read_tokens: M, write_5m_tokens: M, write_1h_tokens: M, write_24h_tokens: M },
      batch: { batch_id: crypto.randomUUID(), request_id: crypto.randomUUID(), custom_id: "", completion_window: "", created_at: "+275760-09-13T00:00:00.000+00:00", request_source: "" },
    });
    const unicode = sampleMessage({ model: "é".repeat(256), user_agent: "😀".repeat(256), finish_reason: "\ud800".repeat(64), served_model: '"\\'.repeat(128) });
    // A composite's routing record at its largest: ten attempts at 256-character component names.
    const name = "\u0001é😀".repeat(64);
    const routed = sampleMessage({ routing: { attempts: Array.from({ length: 10 }, () => ({ component: name, status: 599, error: "capacity" as const })), served_by: name } });
    expect(UsageMessageSchema.parse(routed)).toEqual(routed);
    for (const m of [sampleMessage(), hostileMessage(), longestFixed, unicode, sampleMessage({ user_agent: null, finish_reason: null }), routed]) {
      expect(usageMessageBytesBound(m)).toBeGreaterThanOrEqual(jsonBytes(m));
    }
  });

  it("bundles hold at most 100 records and fit one queue message, and keep every record in order", () => {
    const small = Array.from({ length: 250 }, () => sampleMessage());
    expect(usageBundles(small).map((b) => b.messages.length)).toEqual([100, 100, 50]);
    const mixed = [...Array.from({ length: 60 }, hostileMessage), ...small.slice(0, 10)];
    const bundles = usageBundles(mixed);
    for (const bundle of bundles) {
      expect(bundle.messages.length).toBeLessThanOrEqual(USAGE_BUNDLE_MAX_RECORDS);
      expect(new TextEncoder().encode(JSON.stringify(bundle)).length).toBeLessThanOrEqual(QUEUE_MESSAGE_MAX_BYTES);
      expect(isUsageBundle(bundle)).toBe(true);
      expect(UsageBundleSchema.safeParse(bundle).success).toBe(true);
    }
    expect(bundles.length).toBeGreaterThan(1);
    expect(bundles.flatMap((b) => b.messages)).toEqual(mixed);
    expect(usageBundles([])).toEqual([]);
    expect(isUsageBundle(sampleMessage())).toBe(false);
    expect(UsageBundleSchema.safeParse({ kind: "usage_bundle", v: 1, messages: [] }).success).toBe(false);
  });
});

describe("repairs before the queue and before the write", () => {
  it("control characters are stripped from every string, nested ones too", () => {
    const m = clipUsageMessage(
      sampleMessage({
        model: "al\u0000ias",
        finish_reason: "st\u0000op\n",
        user_agent: "a\u0007b\u007f",
        batch: { batch_id: null, request_id: null, custom_id: "row\u0000-1", completion_window: "24h", created_at: null, request_source: "x\u001f" },
      }),
    );
    expect([m.model, m.finish_reason, m.user_agent, m.batch!.custom_id, m.batch!.request_source]).toEqual(["alias", "stop", "ab", "row-1", "x"]);
    expect(m.usage_source).toBeUndefined();
  });

  it("counts past MAX_TOKEN_COUNT are clamped and flagged; negative and fractional ones repaired; strings stay unrepairable", () => {
    const base = sampleMessage();
    const huge = repairUsageRecord({ ...base, usage: { ...base.usage, prompt_tokens: 1e16 }, cache: { ...base.cache, read_tokens: -3 } }) as UsageMessageV1;
    expect(huge.usage.prompt_tokens).toBe(MAX_TOKEN_COUNT);
    expect(huge.cache.read_tokens).toBe(0);
    expect(huge.usage_source).toBe("clamped");
    expect(UsageMessageSchema.safeParse(huge).success).toBe(true);
    const fractional = repairUsageRecord({ ...base, usage: { ...base.usage, completion_tokens: 7.9 } }) as UsageMessageV1;
    expect(fractional.usage.completion_tokens).toBe(7);
    expect(fractional.usage_source).toBeUndefined();
    expect(UsageMessageSchema.safeParse(repairUsageRecord({ ...base, usage: { ...base.usage, prompt_tokens: "12" } })).success).toBe(false);
    expect(repairUsageRecord("not a record")).toBe("not a record");
  });

  it("a record is copied and repaired exactly when repairing would change it (clipUsageMessage skips the copy otherwise)", () => {
    const base = sampleMessage({ batch: { batch_id: null, request_id: null, custom_id: "row-1", completion_window: "24h", created_at: null, request_source: "x" } });
    const variants: UsageMessageV1[] = [
      base,
      sampleMessage({ routing: { attempts: [{ component: "a", status: 503, error: null }], served_by: "a" } }),
      sampleMessage({ routing: { attempts: [{ component: "a\u0001", status: 503, error: null }], served_by: "a" } }),
      sampleMessage({ user_agent: "curl/8\u0000" }),
      sampleMessage({ uri: "/ai/v1/x\n" }),
      { ...base, batch: { ...base.batch!, custom_id: "row\u007f" } },
      { ...base, usage: { ...base.usage, prompt_tokens: MAX_TOKEN_COUNT } },
      { ...base, usage: { ...base.usage, prompt_tokens: MAX_TOKEN_COUNT + 1 } },
      { ...base, usage: { ...base.usage, completion_tokens: 7.5 } },
      { ...base, cache: { ...base.cache, read_tokens: -1 } },
      { ...base, duration_ms: -5 },
      { ...base, duration_ms: 12.5 },
      { ...base, ttfb_ms: 31_536_000_001 },
      { ...base, ttfb_ms: null },
      { ...base, usage: { ...base.usage, prompt_tokens: "12" as never } },
    ];
    for (const m of variants) {
      const repaired = repairUsageRecord(m) as UsageMessageV1;
      expect(usageRecordNeedsRepair(m), JSON.stringify(m)).toBe(!isDeepStrictEqual(repaired, m));
      expect(clipUsageMessage(m)).toEqual(clipUsageMessage(repaired));
    }
    expect(clipUsageMessage(base)).toBe(base);
  });

  it("an upstream usage report is believed only when its counts are integers within bounds", () => {
    expect(upstreamUsage({ prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 })).toMatchObject({ prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 });
    expect(upstreamUsage({ input_tokens: 5, output_tokens: 2 })).toMatchObject({ prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 });
    for (const bad of [undefined, null, [], "12", {}, { prompt_tokens: -1, completion_tokens: 2 }, { prompt_tokens: "5", completion_tokens: 2 }, { prompt_tokens: 5, completion_tokens: "2" }, { prompt_tokens: 1e16, completion_tokens: 2 }, { prompt_tokens: 5.5, completion_tokens: 2 }, { prompt_tokens: 5 }]) {
      expect(upstreamUsage(bad), JSON.stringify(bad)).toBeNull();
    }
    // Embeddings report no completion.
    expect(upstreamUsage({ prompt_tokens: 5, total_tokens: 5 }, "optional")).toMatchObject({ prompt_tokens: 5, completion_tokens: 0 });
  });
});
