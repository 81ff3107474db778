/**
 * Model capacity in two isolates at once (two workers in one workerd, sharing one
 * ConcurrencyLimiter Durable Object): no more requests are in flight than the capacity, whichever
 * isolate they arrive at, and slots come back when the requests end.
 */
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../../dev/stack.ts";

let mf: Miniflare;
let isolates: { fetch: (path: string) => Promise<Response> }[];

beforeAll(async () => {
  const bundle = await build({
    entryPoints: [join(ROOT, "test/workers/gateway/capacity-worker.ts")],
    bundle: true,
    write: false,
    format: "esm",
    platform: "neutral",
    external: ["cloudflare:workers", "node:*"],
  });
  const common = {
    modules: true,
    script: bundle.outputFiles[0]!.text,
    compatibilityDate: "2026-04-20",
    compatibilityFlags: ["nodejs_compat"],
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
  };
  mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    workers: [
      { ...common, name: "a", durableObjects: { CONCURRENCY_LIMITER: "ConcurrencyLimiter" } },
      { ...common, name: "b", durableObjects: { CONCURRENCY_LIMITER: { className: "ConcurrencyLimiter", scriptName: "a" } } },
    ],
  });
  await mf.ready;
  isolates = await Promise.all(
    ["a", "b"].map(async (name) => {
      const base = await mf.unsafeGetDirectURL(name);
      return { fetch: (path: string) => fetch(new URL(path, base)) };
    }),
  );
}, 60_000);

afterAll(async () => {
  await mf?.dispose();
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
