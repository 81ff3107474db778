/**
 * Model capacity in two isolates at once (two workers in one workerd, sharing one
 * ConcurrencyLimiter Durable Object): no more requests are in flight than the capacity, whichever
 * isolate they arrive at, and slots come back when the requests end.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTwoIsolates, type Isolate, type TwoIsolates } from "../support/two-isolates.ts";

let two: TwoIsolates;
let isolates: Isolate[];

beforeAll(async () => {
  two = await startTwoIsolates("test/workers/gateway/capacity-worker.ts", { CONCURRENCY_LIMITER: "ConcurrencyLimiter" });
  isolates = two.isolates;
}, 60_000);

afterAll(async () => {
  await two?.dispose();
});

describe("capacity across two isolates", () => {
  it("admits at most `capacity` requests in flight in total, and frees the slots when they end", async () => {
    const model = `m-${crypto.randomUUID()}`;
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => isolates[i % 2]!.fetch(`/?model=${model}&cap=3&hold=1500`)));
    const statuses = burst.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(17);
    const refused = burst.find((r) => r.status === 429)!;
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("concurrency_limit_exceeded");
    await Promise.all(burst.map((r) => r.arrayBuffer().catch(() => undefined)));
    // The releases are sent in the background: give them a moment.
    for (let i = 0; i < 50 && (await (await isolates[0]!.fetch(`/in-flight?model=${model}`)).json()) !== 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await (await isolates[1]!.fetch(`/in-flight?model=${model}`)).json()).toBe(0);
    // Both isolates can use the freed slots.
    const again = await Promise.all(Array.from({ length: 3 }, (_, i) => isolates[i % 2]!.fetch(`/?model=${model}&cap=3&hold=10`)));
    expect(again.map((r) => r.status)).toEqual([200, 200, 200]);
  });
});
