import { describe, expect, it } from "vitest";
import { TtlCache } from "../../shared/ttl-cache.ts";

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
