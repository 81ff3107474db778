import { describe, expect, it } from "vitest";
import { UsageMessageSchema, usageFromOpenAI, ZERO_USAGE } from "../../shared/usage-message.ts";
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
