/**
 * The gateway's Meter on its own, no request through the app: the piece of the usage message it
 * works out itself rather than with a general-purpose parser (the path), and its price, worked
 * out once and asked for twice.
 */
import { describe, expect, it } from "vitest";
import { cacheTariffFromRow, tariffFromRow } from "../../../shared/pricing.ts";
import { ZERO_CACHE, ZERO_USAGE } from "../../../shared/usage-message.ts";
import { Meter, pathnameOf } from "../../../workers/gateway/src/meter.ts";

describe("pathnameOf", () => {
  it("is new URL(url).pathname for serialised request URLs", () => {
    const urls = [
      "https://gateway.test/ai/v1/chat/completions",
      "https://gateway.test/ai/v1/chat/completions?x=1&y=/z",
      "https://gateway.test/ai/v1/chat/completions#frag",
      "https://gateway.test/ai/v1/chat/completions?q#f/g",
      "http://127.0.0.1:8787/ai/v1/embeddings",
      "https://gateway.test/",
      "https://gateway.test",
      "https://gateway.test:443/ai/v1/completion%73",
      "https://gateway.test/ai/v1/caf\u00e9 x",
      "https://gateway.test/ai/v1/models/org%2Fmodel/x",
      "https://gateway.test/a?b?c",
      "https://[::1]:8080/ai/v1/responses",
    ];
    for (const raw of urls) {
      const serialised = new Request(raw).url;
      expect(pathnameOf(serialised), serialised).toBe(new URL(serialised).pathname);
    }
    // A URL with credentials cannot make a Request, but is still read right.
    for (const serialised of [new URL("https://us%3Fer:p%2Fs%23s@gateway.test/ai/v1/x?y").href, "https://user:p%2Fss@gateway.test/ai/v1/x"]) {
      expect(pathnameOf(serialised), serialised).toBe(new URL(serialised).pathname);
    }
  });
});

describe("Meter.costOf", () => {
  const tariffs = [
    tariffFromRow({ purpose: "realtime", completionWindow: null, inputPricePerToken: "0.001", outputPricePerToken: "0.002", validFromUs: 0, validUntilUs: null }),
  ];
  const cacheTariffs = [cacheTariffFromRow({ read: "0.1", write5m: "1.25", write1h: null, write24h: null, validFromUs: 0, validUntilUs: null })];
  const usage = (prompt: number, completion: number) => ({ ...ZERO_USAGE, prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion });

  it("prices the same counts the same, and anew when the counts or the cache split change", () => {
    const meter = new Meter();
    expect(meter.costOf(usage(100, 10))).toBeNull(); // not priced yet
    meter.pricedBy("realtime", { tariffs, cacheTariffs });
    expect(meter.costOf(usage(100, 10))).toBe("0.12");
    expect(meter.costOf(usage(100, 10))).toBe("0.12");
    expect(meter.costOf(usage(100, 20))).toBe("0.14");
    expect(meter.costOf(usage(200, 20))).toBe("0.24");
    meter.cached({ ...ZERO_CACHE, read_tokens: 100 });
    // 100 uncached at 0.001, 100 read at 0.0001, 20 out at 0.002
    expect(meter.costOf(usage(200, 20))).toBe("0.15");
    meter.cached({ ...ZERO_CACHE });
    expect(meter.costOf(usage(200, 20))).toBe("0.24");
  });

  it("a batch's price follows the batch metadata", () => {
    const batchTariffs = [...tariffs, tariffFromRow({ purpose: "batch", completionWindow: null, inputPricePerToken: "0.0005", outputPricePerToken: "0.001", validFromUs: 0, validUntilUs: null })];
    const meter = new Meter();
    meter.pricedBy("realtime", { tariffs: batchTariffs, cacheTariffs: [] });
    expect(meter.costOf(usage(100, 10))).toBe("0.12");
    meter.batchTrusted({ batch_id: crypto.randomUUID(), request_id: null, custom_id: null, completion_window: null, created_at: null, request_source: "test" });
    expect(meter.costOf(usage(100, 10))).toBe("0.06");
  });
});
