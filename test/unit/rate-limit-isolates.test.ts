/**
 * The gateway's rate limiting in two isolates at once (two workers in one workerd, sharing one
 * RateLimiter Durable Object): the limit holds across them, and a high limit is served from
 * leases, not a Durable Object call per request.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTwoIsolates, type Isolate, type TwoIsolates } from "../support/two-isolates.ts";
import { LEASE_MS } from "../../shared/token-bucket.ts";

let two: TwoIsolates;
let isolates: Isolate[];

beforeAll(async () => {
  two = await startTwoIsolates("test/workers/gateway/rate-limit-worker.ts", { RATE_LIMITER: "RateLimiter", COUNTED: "RateLimiter" });
  isolates = two.isolates;
}, 60_000);

afterAll(async () => {
  await two?.dispose();
});

/** Closed-loop requests from `loops` concurrent clients, alternating isolates, for `ms`. */
async function hammer(query: string, loops: number, ms: number): Promise<{ admitted: number[]; refused: number; elapsedMs: number }> {
  const admitted = [0, 0];
  let refused = 0;
  const started = performance.now();
  const deadline = started + ms;
  await Promise.all(
    Array.from({ length: loops }, async (_, loop) => {
      for (let i = loop; performance.now() < deadline; i++) {
        const res = await isolates[i % 2]!.fetch(`/?${query}`);
        if (res.status === 200) admitted[i % 2]!++;
        else if (res.status === 429) refused++;
        else throw new Error(`unexpected ${res.status}`);
        await res.arrayBuffer();
      }
    }),
  );
  return { admitted, refused, elapsedMs: performance.now() - started };
}

describe("rate limits across two isolates", () => {
  it("admit no more than burst + rate × elapsed in total, both isolates sharing it", async () => {
    const rps = 10;
    const burst = 10; // slices of 2: leasing is on
    const { admitted, refused, elapsedMs } = await hammer(`key=shared&rps=${rps}&burst=${burst}`, 8, 2000);
    const total = admitted[0]! + admitted[1]!;
    expect(refused).toBeGreaterThan(0); // the limit was reached
    expect(admitted[0]).toBeGreaterThan(0);
    expect(admitted[1]).toBeGreaterThan(0);
    expect(total).toBeLessThanOrEqual(burst + Math.ceil((rps * elapsedMs) / 1000));
    // Leases refuse early at most by what sits unspent in them: close to the bound.
    expect(total).toBeGreaterThanOrEqual(0.7 * (burst + (rps * elapsedMs) / 1000));
  }, 30_000);

  it("serve a high limit from leases: Durable Object calls follow time, not traffic; with the limit headers", async () => {
    const query = "key=high&rps=100000&burst=100000";
    const callCount = async () => (await (await isolates[0]!.fetch("/calls?key=high")).json()) as number;
    await hammer(query, 8, 1000); // leases grow to the isolates' demand
    const before = await callCount();
    const { admitted, refused, elapsedMs } = await hammer(query, 8, 2000);
    const calls = (await callCount()) - before;
    const total = admitted[0]! + admitted[1]!;
    expect(refused).toBe(0);
    // Per isolate, a lease ahead every half lease period and its settlement (and a few while
    // demand shifts), however many requests.
    expect(calls).toBeLessThanOrEqual(2 * 4 * (elapsedMs / LEASE_MS) + 8);
    expect(calls).toBeLessThan(total / 4);
    const res = await isolates[1]!.fetch(`/?${query}`);
    expect(res.headers.get("x-ratelimit-limit-requests")).toBe("100000");
    expect(Number(res.headers.get("x-ratelimit-remaining-requests"))).toBeGreaterThan(100000 - 2 * total - 1000);
    expect(res.headers.get("x-ratelimit-reset-requests")).toMatch(/^\d+(\.\d+)?(ms|s)$/);
  }, 30_000);

  it("a burst into an isolate whose leases lapsed waits for one ask instead of each request asking", async () => {
    const query = "key=burst&rps=100000&burst=100000";
    const BURST = 48;
    const callCount = async () => (await (await isolates[0]!.fetch("/calls?key=burst")).json()) as number;
    const askCount = async () => (await (await isolates[0]!.fetch("/asks?key=burst")).json()) as number;
    const burst = async () => {
      const answers = await Promise.all(Array.from({ length: BURST }, () => isolates[0]!.fetch(`/?${query}`)));
      for (const res of answers) {
        expect(res.status).toBe(200);
        await res.arrayBuffer();
      }
    };
    await burst(); // the isolate learns the key's demand
    await new Promise((resolve) => setTimeout(resolve, 2 * LEASE_MS)); // every lease lapses
    const [calls, asks] = [await callCount(), await askCount()];
    await burst();
    // Requests that find no lease while one is being asked for wait for it: a few asks for the
    // burst. Each asking for itself, the same burst made 15–30 asks (28–38 calls in all, with
    // settlements and leases ahead); now 3–4 asks and 10–17 calls, quiet or under load.
    expect((await askCount()) - asks).toBeLessThan(BURST / 6);
    expect((await callCount()) - calls).toBeLessThan(BURST / 2);
  }, 30_000);
});
