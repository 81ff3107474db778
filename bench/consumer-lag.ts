/**
 * End-to-end metering lag for `npm run bench:consumer`: the stack `npm start` runs (startStack:
 * both workers under `wrangler dev`, the local queue, the mock upstream), driven open-loop at a
 * fixed request rate with the demo key. Lag per request = when its analytics row was written
 * (`created_at`, the write's transaction time) − when the request arrived − its duration: the time
 * from "usage known" to "usage recorded and charged", through the gateway's enqueue, the queue's
 * batching (max_batch_timeout 1 s) and the consumer's write.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { startStack } from "../dev/stack.ts";

export interface LagResult {
  sent: number;
  ok: number;
  recorded: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function measureLag(o: { databaseUrl: string; rate: number; seconds: number; log: (line: string) => void }): Promise<LagResult> {
  const stateDir = mkdtempSync(join(tmpdir(), "tollgate-bench-consumer-"));
  const stack = await startStack({ databaseUrl: o.databaseUrl, port: 0, stateDir, log: () => {}, wranglerOutput: "ignore" });
  const client = new pg.Client({ connectionString: stack.databaseUrl });
  try {
    await client.connect();
    const body = JSON.stringify({ model: stack.modelAlias, messages: [{ role: "user", content: "Hello" }] });
    const call = async (): Promise<boolean> => {
      try {
        const res = await fetch(`${stack.gatewayUrl}/ai/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${stack.demoKey}`, "content-type": "application/json" },
          body,
          signal: AbortSignal.timeout(30_000),
        });
        await res.arrayBuffer();
        return res.ok;
      } catch {
        return false;
      }
    };
    // Warm the gateway's caches and the consumer before the clock starts.
    for (let i = 0; i < 20; i++) await call();
    await sleep(2500);
    const since = new Date().toISOString();

    const total = Math.round(o.rate * o.seconds);
    const interval = 1000 / o.rate;
    o.log(`lag: ${total} requests at ${o.rate} req/s through wrangler dev`);
    const inFlight: Promise<boolean>[] = [];
    const t0 = performance.now();
    for (let i = 0; i < total; i++) {
      const wait = t0 + i * interval - performance.now();
      if (wait > 0) await sleep(wait);
      inFlight.push(call());
    }
    const ok = (await Promise.all(inFlight)).filter(Boolean).length;

    const count = async () => {
      const { rows } = await client.query<{ n: string }>("SELECT count(*)::text AS n FROM http_analytics WHERE api_key_id = $1 AND timestamp >= $2", [stack.demoKeyId, since]);
      return Number(rows[0]!.n);
    };
    const deadline = Date.now() + 60_000;
    let recorded = await count();
    while (recorded < ok && Date.now() < deadline) {
      await sleep(200);
      recorded = await count();
    }
    const { rows } = await client.query<{ lag: string }>(
      `SELECT (extract(epoch FROM created_at - timestamp) * 1000 - duration_ms)::float8::text AS lag
         FROM http_analytics WHERE api_key_id = $1 AND timestamp >= $2`,
      [stack.demoKeyId, since],
    );
    const lags = rows.map((r) => Number(r.lag)).sort((a, b) => a - b);
    const at = (p: number) => lags[Math.min(lags.length - 1, Math.floor((p / 100) * lags.length))] ?? NaN;
    return { sent: total, ok, recorded, p50Ms: at(50), p99Ms: at(99), maxMs: lags.at(-1) ?? NaN };
  } finally {
    await client.end().catch(() => undefined);
    await stack.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}
