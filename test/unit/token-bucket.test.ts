import { describe, expect, it } from "vitest";
import { effectiveBurst, take, type BucketState } from "../../shared/token-bucket.ts";
import { TtlCache } from "../../shared/ttl-cache.ts";

describe("token bucket", () => {
  it("allows a burst, then refuses with the time until the next token", () => {
    let state: BucketState | null = null;
    const results = [];
    for (let i = 0; i < 4; i++) {
      const r = take(state, 2, 3, 1000);
      state = r.state;
      results.push(r.result);
    }
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(results[3]!.retryAfterMs).toBe(500); // 2 tokens/s → one token in 0.5 s
  });

  it("refills at the configured rate and never above the burst", () => {
    let { state } = take(null, 10, 2, 0);
    ({ state } = take(state, 10, 2, 0));
    expect(take(state, 10, 2, 50).result.allowed).toBe(false); // 0.5 token after 50 ms
    expect(take(state, 10, 2, 100).result.allowed).toBe(true); // 1 token after 100 ms
    const later = take(state, 10, 2, 60_000).state; // long idle: capped at burst, minus the one taken
    expect(later.tokens).toBe(1);
  });

  it("defaults the burst to one second of requests", () => {
    expect(effectiveBurst(5, null)).toBe(5);
    expect(effectiveBurst(0.5, undefined)).toBe(1);
    expect(effectiveBurst(5, 20)).toBe(20);
  });
});

describe("TtlCache", () => {
  it("expires entries and evicts the oldest beyond its bound", () => {
    const cache = new TtlCache<number>(2);
    cache.set("a", 1, 100, 0);
    cache.set("b", 2, 100, 0);
    expect(cache.get("a", 99)).toBe(1);
    expect(cache.get("a", 100)).toBeUndefined();
    cache.set("c", 3, 100, 0);
    cache.set("d", 4, 100, 0);
    expect(cache.get("b", 0)).toBeUndefined(); // evicted
    expect(cache.get("d", 0)).toBe(4);
  });

  it("still hands out a value for a grace period after it expired, when asked for a stale one", () => {
    const cache = new TtlCache<number>();
    cache.set("a", 1, 100, 1_000);
    expect(cache.get("a", 1_150)).toBeUndefined();
    expect(cache.stale("a", 1_150, 100)).toBe(1);
    expect(cache.stale("a", 1_200, 100)).toBeUndefined();
    expect(cache.stale("missing", 1_000, 100)).toBeUndefined();
  });

  it("reports the age of a live entry, so callers can refresh it before it expires", () => {
    const cache = new TtlCache<number>();
    cache.set("a", 1, 100, 1_000);
    expect(cache.age("a", 1_040)).toBe(40);
    expect(cache.age("a", 1_100)).toBeUndefined(); // expired
    expect(cache.age("missing", 1_000)).toBeUndefined();
    cache.set("a", 2, 100, 1_060);
    expect(cache.age("a", 1_070)).toBe(10);
  });
});
