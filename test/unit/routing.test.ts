import { describe, expect, it } from "vitest";
import { seededRandom } from "../../dev/seeded-random.ts";
import { attemptOrder, backoffDelayMs, HealthBoard, healthyComponents, isFallbackStatus, ROUTING_DEFAULTS, weightedIndex, type BackoffPolicy } from "../../shared/routing.ts";

const c = (id: string, weight: number, sortOrder = 0) => ({ id, weight, sortOrder });

describe("attemptOrder", () => {
  it("weighted_random splits 1,000 first picks by weight within statistical tolerance", () => {
    const components = [c("a", 70), c("b", 20), c("c", 10)];
    for (const seed of [1, 2, 3]) {
      const random = seededRandom(seed);
      const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
      for (let i = 0; i < 1000; i++) counts[attemptOrder(components, "weighted_random", 3, false, random)[0]!.id]!++;
      // Binomial(1000, p): 4 standard deviations (σ = √(1000 p (1−p))) either side.
      for (const [id, p] of [["a", 0.7], ["b", 0.2], ["c", 0.1]] as const) {
        const sigma = Math.sqrt(1000 * p * (1 - p));
        expect(Math.abs(counts[id]! - 1000 * p), `${id} with seed ${seed}: ${counts[id]}`).toBeLessThan(4 * sigma);
      }
    }
  });

  it("without replacement tries each component at most once, the rest in weighted order", () => {
    const random = seededRandom(7);
    for (let i = 0; i < 200; i++) {
      const order = attemptOrder([c("a", 1), c("b", 100), c("c", 50)], "weighted_random", 5, false, random);
      expect(order.map((x) => x.id).sort()).toEqual(["a", "b", "c"]);
    }
    expect(attemptOrder([c("a", 1), c("b", 1)], "weighted_random", 1, false, random)).toHaveLength(1);
  });

  it("with replacement may pick the same component again, up to the attempts", () => {
    const order = attemptOrder([c("a", 100), c("b", 1)], "weighted_random", 4, true, () => 0);
    expect(order.map((x) => x.id)).toEqual(["a", "a", "a", "a"]);
  });

  it("priority follows sort_order, ties in the given order, whatever the weights", () => {
    const order = attemptOrder([c("low", 100, 2), c("first", 1, 0), c("tie1", 5, 1), c("tie2", 5, 1)], "priority", 10, false, () => 0.99);
    expect(order.map((x) => x.id)).toEqual(["first", "tie1", "tie2", "low"]);
    expect(attemptOrder([c("x", 1, 1), c("y", 1, 0)], "priority", 3, true, Math.random).map((x) => x.id)).toEqual(["y", "x", "y"]);
  });

  it("nothing to try: empty", () => {
    expect(attemptOrder([], "priority", 3, false, Math.random)).toEqual([]);
    expect(attemptOrder([c("a", 1)], "weighted_random", 0, false, Math.random)).toEqual([]);
  });

  it("weightedIndex maps [0,1) onto the weights' shares", () => {
    const items = [c("a", 1), c("b", 3)];
    expect(weightedIndex(items, 0)).toBe(0);
    expect(weightedIndex(items, 0.2499)).toBe(0);
    expect(weightedIndex(items, 0.25)).toBe(1);
    expect(weightedIndex(items, 0.9999999)).toBe(1);
  });
});

describe("backoffDelayMs", () => {
  const policy: BackoffPolicy = { initialMs: 100, maxMs: 5000, factor: 2, jitter: "none", maxTotalMs: null };
  it("grows by the factor from the initial delay and is capped", () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((r) => backoffDelayMs(r, policy, Math.random))).toEqual([100, 200, 400, 800, 1600, 3200, 5000]);
  });
  it("full jitter draws below the ceiling", () => {
    expect(backoffDelayMs(3, { ...policy, jitter: "full" }, () => 0.5)).toBe(200);
    expect(backoffDelayMs(3, { ...policy, jitter: "full" }, () => 0)).toBe(0);
    const random = seededRandom(3);
    for (let i = 0; i < 100; i++) expect(backoffDelayMs(10, { ...policy, jitter: "full" }, random)).toBeLessThan(5000);
  });
});

describe("isFallbackStatus", () => {
  const policy = { enabled: true, onStatus: ROUTING_DEFAULTS.fallback_on_status, onRateLimit: true, maxAttempts: 3, withReplacement: false };
  it("the configured statuses, 429 by its own switch, nothing when fallback is off", () => {
    expect([500, 502, 503, 504, 429].every((s) => isFallbackStatus(s, policy))).toBe(true);
    expect([200, 400, 401, 404, 501].some((s) => isFallbackStatus(s, policy))).toBe(false);
    expect(isFallbackStatus(429, { ...policy, onRateLimit: false })).toBe(false);
    expect(isFallbackStatus(503, { ...policy, enabled: false })).toBe(false);
  });
});

describe("HealthBoard", () => {
  const policy = { failures: 3, cooldownMs: 1000 };
  it("ejects after N failures in a row, for the cool-down; a success resets the count", () => {
    const board = new HealthBoard();
    board.failed("a", 0, policy);
    board.failed("a", 0, policy);
    board.succeeded("a");
    board.failed("a", 0, policy);
    board.failed("a", 0, policy);
    expect(board.isEjected("a", 0)).toBe(false);
    board.failed("a", 10, policy);
    expect(board.isEjected("a", 10)).toBe(true);
    expect(board.isEjected("a", 1009)).toBe(true);
    expect(board.isEjected("a", 1010)).toBe(false);
  });
  it("after the cool-down one more failure ejects again at once; a success recovers it", () => {
    const board = new HealthBoard();
    for (let i = 0; i < 3; i++) board.failed("a", 0, policy);
    board.failed("a", 1000, policy);
    expect(board.isEjected("a", 1500)).toBe(true);
    board.succeeded("a");
    expect(board.isEjected("a", 1500)).toBe(false);
  });
  it("healthyComponents skips the ejected, unless all are", () => {
    const board = new HealthBoard();
    const list = [{ id: "a" }, { id: "b" }, { id: "c" }];
    expect(healthyComponents(list, board, 0)).toBe(list);
    for (let i = 0; i < 3; i++) board.failed("b", 0, policy);
    expect(healthyComponents(list, board, 0).map((x) => x.id)).toEqual(["a", "c"]);
    for (let i = 0; i < 3; i++) board.failed("a", 0, policy), board.failed("c", 0, policy);
    expect(healthyComponents(list, board, 0)).toBe(list);
  });
  it("is bounded", () => {
    const board = new HealthBoard(2);
    for (const id of ["a", "b", "c"]) for (let i = 0; i < 3; i++) board.failed(id, 0, policy);
    expect(board.isEjected("a", 0)).toBe(false);
    expect(board.isEjected("c", 0)).toBe(true);
  });
});
