/**
 * Pricing, pure: the reference's tariff matrix (find_best_tariff_*), request origin, cost
 * arithmetic to the exact decimal, pricing time, and zero crossings.
 */
import { describe, expect, it } from "vitest";
import {
  balanceCrossing,
  balanceCrossings,
  computeCost,
  dateMicros,
  epochMicros,
  findBestTariff,
  findCacheTariff,
  Money,
  moneyText,
  priceUsage,
  pricingInstantUs,
  requestOrigin,
  tariffFromRow,
  type CacheTariff,
  type Tariff,
} from "../../shared/pricing.ts";
import { ZERO_CACHE } from "../../shared/usage-message.ts";
import { sampleMessage } from "../support/samples.ts";

const DAY_US = 86_400_000_000;
const NOW = dateMicros(new Date("2025-06-15T12:00:00Z"));

function tariff(purpose: string, from: number, until: number | null, input: string, output: string, completionWindow: string | null = null): Tariff {
  return {
    purpose,
    completionWindow,
    inputPricePerToken: new Money(input),
    outputPricePerToken: new Money(output),
    validFromUs: from,
    validUntilUs: until,
  };
}

/** The chosen prices as text, or null: what the reference's tests compare. */
function prices(t: Tariff | null): [string, string] | null {
  return t ? [moneyText(t.inputPricePerToken), moneyText(t.outputPricePerToken)] : null;
}

describe("findBestTariff (the reference's matrix)", () => {
  it("exact match: a realtime key gets the realtime tariff", () => {
    const tariffs = [tariff("realtime", NOW - DAY_US, null, "0.00010", "0.00020")];
    expect(prices(findBestTariff(tariffs, "realtime", null, NOW))).toEqual(["0.0001", "0.0002"]);
  });

  it("batch vs realtime: each purpose gets its own price", () => {
    const tariffs = [tariff("realtime", NOW - DAY_US, null, "0.00010", "0.00020"), tariff("batch", NOW - DAY_US, null, "0.00005", "0.00010")];
    expect(prices(findBestTariff(tariffs, "batch", null, NOW))).toEqual(["0.00005", "0.0001"]);
    expect(prices(findBestTariff(tariffs, "realtime", null, NOW))).toEqual(["0.0001", "0.0002"]);
  });

  it("falls back to the generic realtime tariff when the purpose has none", () => {
    const tariffs = [tariff("realtime", NOW - DAY_US, null, "0.00015", "0.00030")];
    expect(prices(findBestTariff(tariffs, "batch", null, NOW))).toEqual(["0.00015", "0.0003"]);
    expect(prices(findBestTariff(tariffs, "playground", null, NOW))).toEqual(["0.00015", "0.0003"]);
    // A key with no purpose (unknown or no key) prices as realtime.
    expect(prices(findBestTariff(tariffs, null, null, NOW))).toEqual(["0.00015", "0.0003"]);
    expect(prices(findBestTariff(tariffs, undefined, "24h", NOW))).toEqual(["0.00015", "0.0003"]);
  });

  it("historical pricing: an expired tariff prices requests from its own period only", () => {
    const tariffs = [
      tariff("realtime", NOW - 30 * DAY_US, NOW - 10 * DAY_US, "0.00020", "0.00040"),
      tariff("realtime", NOW - 10 * DAY_US, null, "0.00010", "0.00020"),
    ];
    expect(prices(findBestTariff(tariffs, "realtime", null, NOW))).toEqual(["0.0001", "0.0002"]);
    expect(prices(findBestTariff(tariffs, "realtime", null, NOW - 20 * DAY_US))).toEqual(["0.0002", "0.0004"]);
    // valid_from is inclusive, valid_until exclusive: the change-over instant belongs to the new tariff.
    expect(prices(findBestTariff(tariffs, "realtime", null, NOW - 10 * DAY_US))).toEqual(["0.0001", "0.0002"]);
    expect(prices(findBestTariff(tariffs, "realtime", null, NOW - 10 * DAY_US - 1))).toEqual(["0.0002", "0.0004"]);
    // Before the first tariff: free.
    expect(findBestTariff(tariffs, "realtime", null, NOW - 31 * DAY_US)).toBeNull();
  });

  it("completion window: the exact window wins; no window gets the generic batch price", () => {
    const tariffs = [tariff("batch", NOW - DAY_US, null, "0.00010", "0.00020"), tariff("batch", NOW - DAY_US, null, "0.00005", "0.00010", "24h")];
    expect(prices(findBestTariff(tariffs, "batch", "24h", NOW))).toEqual(["0.00005", "0.0001"]);
    expect(prices(findBestTariff(tariffs, "batch", null, NOW))).toEqual(["0.0001", "0.0002"]);
  });

  it("an unknown completion window falls back to the generic tariff, never to another window", () => {
    const tariffs = [
      tariff("batch", NOW - DAY_US, null, "0.00010", "0.00020"),
      tariff("batch", NOW - DAY_US, null, "0.00005", "0.00010", "24h"),
      tariff("batch", NOW - DAY_US, null, "0.00003", "0.00006", "7d"),
    ];
    expect(prices(findBestTariff(tariffs, "batch", "1h", NOW))).toEqual(["0.0001", "0.0002"]);
  });

  it("a window-only batch tariff with an unknown window falls back to realtime", () => {
    const tariffs = [tariff("batch", NOW - DAY_US, null, "0.00005", "0.00010", "24h"), tariff("realtime", NOW - DAY_US, null, "0.00010", "0.00020")];
    expect(prices(findBestTariff(tariffs, "batch", "1h", NOW))).toEqual(["0.0001", "0.0002"]);
    expect(prices(findBestTariff(tariffs, "batch", "24h", NOW))).toEqual(["0.00005", "0.0001"]);
  });

  it("no tariff at all: none", () => {
    expect(findBestTariff([], "realtime", null, NOW)).toBeNull();
  });

  it("a tariff that starts in the future is not used", () => {
    expect(findBestTariff([tariff("realtime", NOW + DAY_US, null, "0.00010", "0.00020")], "realtime", null, NOW)).toBeNull();
  });

  it("no fallback from a realtime key to another purpose's price", () => {
    expect(findBestTariff([tariff("batch", NOW - DAY_US, null, "0.00005", "0.00010")], "realtime", null, NOW)).toBeNull();
  });
});

describe("requestOrigin (the reference's compute_request_origin)", () => {
  const batchId = crypto.randomUUID();
  it("any batch id → fusillade", () => {
    expect(requestOrigin(null, batchId)).toBe("fusillade");
    expect(requestOrigin("realtime", batchId)).toBe("fusillade");
    expect(requestOrigin("playground", batchId)).toBe("fusillade");
  });
  it("a batch key without a batch id → fusillade; playground → frontend; else api", () => {
    expect(requestOrigin("batch", null)).toBe("fusillade");
    expect(requestOrigin("playground", null)).toBe("frontend");
    expect(requestOrigin(null, null)).toBe("api");
    expect(requestOrigin(undefined, undefined)).toBe("api");
    expect(requestOrigin("realtime", null)).toBe("api");
    expect(requestOrigin("platform", null)).toBe("api");
  });
});

describe("computeCost", () => {
  const prices = { inputPricePerToken: new Money("0.00001"), outputPricePerToken: new Money("0.00003") };

  it("list price: (1000 × 0.00001) + (500 × 0.00003) = 0.025 exactly", () => {
    const cost = computeCost({ promptTokens: 1000, completionTokens: 500, cache: ZERO_CACHE }, prices);
    expect(moneyText(cost.totalCost)).toBe("0.025");
    expect(moneyText(cost.uncachedCost)).toBe("0.025");
  });

  it("is exact where floats are not (0.1 + 0.2)", () => {
    const cost = computeCost({ promptTokens: 1, completionTokens: 2, cache: ZERO_CACHE }, { inputPricePerToken: new Money("0.1"), outputPricePerToken: new Money("0.1") });
    expect(moneyText(cost.totalCost)).toBe("0.3");
    expect(0.1 + 0.2).not.toBe(0.3);
  });

  it("keeps every digit of tiny prices and huge counts", () => {
    const cost = computeCost(
      { promptTokens: Number.MAX_SAFE_INTEGER, completionTokens: 3, cache: ZERO_CACHE },
      { inputPricePerToken: new Money("0.000000000000000000123456789"), outputPricePerToken: new Money("1234567.000000000000000001") },
    );
    expect(moneyText(cost.totalCost)).toBe("3703701.001111999897873518775537899");
  });

  it("without cache multipliers, cache tokens are billed at list price", () => {
    const cache = { read_tokens: 600, write_5m_tokens: 100, write_1h_tokens: 0, write_24h_tokens: 0 };
    const cost = computeCost({ promptTokens: 1000, completionTokens: 500, cache }, prices);
    expect(moneyText(cost.totalCost)).toBe("0.025");
    expect(moneyText(cost.uncachedCost)).toBe("0.025");
  });

  it("with multipliers: reads and each write tier at their multiple of the input price", () => {
    const cache = { read_tokens: 600, write_5m_tokens: 100, write_1h_tokens: 50, write_24h_tokens: 10 };
    const cost = computeCost({ promptTokens: 1000, completionTokens: 500, cache }, prices, { read: "0.1", write5m: "1.25", write1h: "2", write24h: "3" });
    // uncached 240 × 0.00001 = 0.0024; read 600 × 0.00001 × 0.1 = 0.0006; writes 100 × 1.25, 50 × 2,
    // 10 × 3 (× 0.00001) = 0.00125 + 0.001 + 0.0003; output 500 × 0.00003 = 0.015; sum 0.02055
    expect(moneyText(cost.totalCost)).toBe("0.02055");
    expect(moneyText(cost.uncachedCost)).toBe("0.025");
  });

  it("a disabled write tier (null multiplier) bills its tokens at list price", () => {
    const cache = { read_tokens: 0, write_5m_tokens: 0, write_1h_tokens: 100, write_24h_tokens: 0 };
    const cost = computeCost({ promptTokens: 100, completionTokens: 0, cache }, prices, { read: "0.1", write5m: "1.25", write1h: null, write24h: null });
    expect(moneyText(cost.totalCost)).toBe("0.001");
  });

  it("caps the reads when reads + writes exceed the prompt: never more tokens than the prompt had", () => {
    const cache = { read_tokens: 80, write_5m_tokens: 40, write_1h_tokens: 0, write_24h_tokens: 0 };
    const cost = computeCost({ promptTokens: 100, completionTokens: 0, cache }, prices, { read: "0.5", write5m: "2", write1h: null, write24h: null });
    // reads capped to 100 − 40 = 60; uncached 0; 60 × 0.5 + 40 × 2 = 110 token-equivalents × 0.00001
    expect(moneyText(cost.totalCost)).toBe("0.0011");
    expect(moneyText(cost.uncachedCost)).toBe("0.001");
  });

  it("distrusts a split whose writes alone exceed the prompt: list price", () => {
    const cache = { read_tokens: 0, write_5m_tokens: 60, write_1h_tokens: 50, write_24h_tokens: 0 };
    const cost = computeCost({ promptTokens: 100, completionTokens: 10, cache }, prices, { read: "0.1", write5m: "1.25", write1h: "2", write24h: null });
    expect(moneyText(cost.totalCost)).toBe("0.0013"); // 100 × 0.00001 + 10 × 0.00003
    expect(cost.totalCost.eq(cost.uncachedCost)).toBe(true);
  });

  it("free tariffs cost zero", () => {
    const cost = computeCost({ promptTokens: 10, completionTokens: 10, cache: ZERO_CACHE }, { inputPricePerToken: new Money(0), outputPricePerToken: new Money("0") });
    expect(cost.totalCost.isZero()).toBe(true);
  });
});

describe("pricing time", () => {
  it("is the batch's creation time when present, else the request time", () => {
    const msg = sampleMessage({ timestamp: "2025-06-15T12:00:00.000Z" });
    expect(pricingInstantUs(msg)).toBe(epochMicros("2025-06-15T12:00:00Z"));
    const batched = sampleMessage({
      timestamp: "2025-06-15T12:00:00.000Z",
      batch: { batch_id: crypto.randomUUID(), request_id: null, custom_id: null, completion_window: "24h", created_at: "2025-06-01T08:00:00+02:00", request_source: "api" },
    });
    expect(pricingInstantUs(batched)).toBe(epochMicros("2025-06-01T06:00:00Z"));
  });

  it("keeps microseconds that Date drops", () => {
    expect(epochMicros("2025-01-01T00:00:00.000250Z") - epochMicros("2025-01-01T00:00:00Z")).toBe(250);
    expect(epochMicros("2025-01-01T00:00:00.123456789Z") - epochMicros("2025-01-01T00:00:00Z")).toBe(123_456);
    expect(epochMicros("2025-01-01T00:00:00.5Z") - epochMicros("2025-01-01T00:00:00Z")).toBe(500_000);
    expect(() => epochMicros("yesterday")).toThrow(RangeError);
  });

  it("a batch created before a price change pays the old price", () => {
    const change = epochMicros("2025-06-10T00:00:00Z");
    const tariffs = [tariff("batch", 0, change, "0.00002", "0.00004"), tariff("batch", change, null, "0.00001", "0.00002")];
    const msg = sampleMessage({
      timestamp: "2025-06-15T12:00:00Z",
      usage: { prompt_tokens: 1000, completion_tokens: 500, reasoning_tokens: 0, total_tokens: 1500, cached_tokens: 0 },
      batch: { batch_id: crypto.randomUUID(), request_id: null, custom_id: null, completion_window: "24h", created_at: "2025-06-09T23:59:59.999999Z", request_source: "" },
    });
    expect(moneyText(priceUsage(msg, "batch", tariffs)!.cost.totalCost)).toBe("0.04");
    expect(moneyText(priceUsage({ ...msg, batch: null }, "batch", tariffs)!.cost.totalCost)).toBe("0.02");
    expect(priceUsage(msg, "batch", [])).toBeNull();
  });

  it("a request of a batch is priced at the batch tariff of its window whatever key submitted it", () => {
    const tariffs = [tariff("realtime", 0, null, "0.00002", "0.00004"), tariff("batch", 0, null, "0.00001", "0.00002", "24h"), tariff("batch", 0, null, "0.000015", "0.00003", "1h")];
    const usage = { prompt_tokens: 1000, completion_tokens: 500, reasoning_tokens: 0, total_tokens: 1500, cached_tokens: 0 };
    const batch = (window: string) => ({ batch_id: crypto.randomUUID(), request_id: null, custom_id: "x", completion_window: window, created_at: "2025-06-09T00:00:00Z", request_source: "batches-api" });
    const msg = (window: string | null) => sampleMessage({ timestamp: "2025-06-10T00:00:00Z", usage, batch: window === null ? null : batch(window) });
    expect(moneyText(priceUsage(msg("24h"), "realtime", tariffs)!.cost.totalCost)).toBe("0.02");
    expect(moneyText(priceUsage(msg("1h"), "realtime", tariffs)!.cost.totalCost)).toBe("0.03");
    expect(moneyText(priceUsage(msg(null), "realtime", tariffs)!.cost.totalCost)).toBe("0.04");
  });
});

describe("balance crossings", () => {
  it("from above zero to zero or below is a depletion; from zero or below to above, a restoration", () => {
    expect(balanceCrossing("0.01", "-0.015")).toBe("depleted");
    expect(balanceCrossing("0.01", "0")).toBe("depleted");
    expect(balanceCrossing("0", "5")).toBe("restored");
    expect(balanceCrossing("-0.015", "0.000000000000000001")).toBe("restored");
  });

  it("staying on one side is no news", () => {
    expect(balanceCrossing("10", "9.975")).toBeNull();
    expect(balanceCrossing("-0.015", "-0.04")).toBeNull();
    expect(balanceCrossing("0", "-1")).toBeNull();
    expect(balanceCrossing("-1", "0")).toBeNull();
  });

  it("lists only the changes that crossed, as exact text", () => {
    const changes = [
      { userId: "a", before: "0.0100", after: "-0.0150" },
      { userId: "b", before: "100", after: "99.975" },
      { userId: "c", before: "-1", after: "99" },
    ];
    expect(balanceCrossings(changes)).toEqual([
      { userId: "a", direction: "depleted", before: "0.01", after: "-0.015" },
      { userId: "c", direction: "restored", before: "-1", after: "99" },
    ]);
  });
});

describe("cache tariff at pricing time", () => {
  const t = (from: string, until: string | null, read: string): CacheTariff => ({
    multipliers: { read, write5m: "1.25", write1h: null, write24h: null },
    validFromUs: epochMicros(from),
    validUntilUs: until === null ? null : epochMicros(until),
  });
  const history = [t("2025-01-01T00:00:00Z", "2025-06-01T00:00:00Z", "0.5"), t("2025-06-01T00:00:00Z", null, "0.1")];

  it("picks the row valid at the instant, expired rows included; none before the first", () => {
    expect(findCacheTariff(history, epochMicros("2025-03-01T00:00:00Z"))?.multipliers.read).toBe("0.5");
    expect(findCacheTariff(history, epochMicros("2025-06-01T00:00:00Z"))?.multipliers.read).toBe("0.1");
    expect(findCacheTariff(history, epochMicros("2024-12-31T23:59:59Z"))).toBeNull();
  });

  it("a batch created under the old cache price pays it; without a cache tariff reads cost list price", () => {
    const tariffs = [tariffFromRow({ purpose: "batch", completionWindow: null, inputPricePerToken: "0.00001", outputPricePerToken: "0.00003", validFromUs: epochMicros("2025-01-01T00:00:00Z"), validUntilUs: null })];
    const cache = { read_tokens: 1000, write_5m_tokens: 0, write_1h_tokens: 0, write_24h_tokens: 0 };
    const usage = { prompt_tokens: 1000, completion_tokens: 0, reasoning_tokens: 0, total_tokens: 1000, cached_tokens: 0 };
    const batched = sampleMessage({
      timestamp: "2025-07-01T00:00:00.000Z",
      usage,
      cache,
      batch: { batch_id: crypto.randomUUID(), request_id: null, custom_id: null, completion_window: "24h", created_at: "2025-05-31T23:00:00Z", request_source: "api" },
    });
    expect(moneyText(priceUsage(batched, "batch", tariffs, history)!.cost.totalCost)).toBe("0.005"); // 1000 × 0.00001 × 0.5
    const live = sampleMessage({ timestamp: "2025-07-01T00:00:00.000Z", usage, cache });
    expect(moneyText(priceUsage(live, "batch", tariffs, history)!.cost.totalCost)).toBe("0.001"); // × 0.1
    expect(moneyText(priceUsage(live, "batch", tariffs, [])!.cost.totalCost)).toBe("0.01");
  });
});
