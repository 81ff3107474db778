/**
 * End-to-end metering lag for `npm run bench:consumer`: both workers in one workerd through
 * Miniflare, configured from their wrangler.toml files (the local queue between them with the
 * consumer's batch settings), on the benchmark's database through the WebSocket bridge, with the
 * mock upstream — the `npm start` stack minus `wrangler dev`'s proxy and log relay, which on two
 * cores cost more than the gateway itself and made it drop requests ("worker restarted
 * mid-request") at 200 req/s. Driven open-loop at a fixed request rate with the demo key. Lag per
 * request = when its analytics row was written (`created_at`, the write's transaction time) − when
 * the request arrived − its duration: the time from "usage known" to "usage recorded and charged",
 * through the gateway's outbox (25 ms bundles), the queue's batching (max_batch_timeout 1 s) and
 * the consumer's write.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import pg from "pg";
import { startMockUpstream } from "../dev/mock-upstream.ts";
import { seedDemo } from "../dev/seed.ts";
import { ROOT } from "../dev/stack.ts";
import { startWsBridge } from "../dev/ws-bridge.ts";
import { generateEncryptionKey } from "../shared/secret-box.ts";
import { workerFromConfig } from "./workerd.ts";
import { putTokenizerRanks } from "../dev/tokenizer-ranks.ts";

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
  const outDir = mkdtempSync(join(tmpdir(), "tollgate-bench-consumer-"));
  const bridge = await startWsBridge();
  const mock = await startMockUpstream();
  const adminToken = `tg-admin-bench-${crypto.randomUUID()}`;
  const database = { DATABASE_URL: o.databaseUrl, NEON_WS_PROXY: bridge.proxy, NEON_INSECURE_WEBSOCKET: "true", ADMIN_TOKEN: adminToken };
  o.log("lag: building both workers and starting them in workerd (Miniflare)");
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    workers: [
      workerFromConfig("gateway", join(ROOT, "wrangler.toml"), join(outDir, "gateway"), { ...database, ENCRYPTION_KEY: generateEncryptionKey() }),
      workerFromConfig("consumer", join(ROOT, "workers/consumer/wrangler.toml"), join(outDir, "consumer"), database),
    ],
  });
  const client = new pg.Client({ connectionString: o.databaseUrl });
  try {
    const gatewayUrl = (await mf.ready).origin;
    await putTokenizerRanks(mf, "gateway");
    const seed = await seedDemo({ gatewayUrl, adminToken, upstreamBaseUrl: mock.baseUrl, upstreamModel: "mock-gpt" });
    await client.connect();
    const body = JSON.stringify({ model: seed.modelAlias, messages: [{ role: "user", content: "Hello" }] });
    const call = async (): Promise<boolean> => {
      try {
        const res = await fetch(`${gatewayUrl}/ai/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${seed.apiKey}`, "content-type": "application/json" },
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
    o.log(`lag: ${total} requests at ${o.rate} req/s`);
    const inFlight: Promise<boolean>[] = [];
    const t0 = performance.now();
    for (let i = 0; i < total; i++) {
      const wait = t0 + i * interval - performance.now();
      if (wait > 0) await sleep(wait);
      inFlight.push(call());
    }
    const ok = (await Promise.all(inFlight)).filter(Boolean).length;

    const count = async () => {
      const { rows } = await client.query<{ n: string }>("SELECT count(*)::text AS n FROM http_analytics WHERE api_key_id = $1 AND timestamp >= $2", [seed.apiKeyId, since]);
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
      [seed.apiKeyId, since],
    );
    const lags = rows.map((r) => Number(r.lag)).sort((a, b) => a - b);
    const at = (p: number) => lags[Math.min(lags.length - 1, Math.floor((p / 100) * lags.length))] ?? NaN;
    return { sent: total, ok, recorded, p50Ms: at(50), p99Ms: at(99), maxMs: lags.at(-1) ?? NaN };
  } finally {
    await client.end().catch(() => undefined);
    await mf.dispose();
    await mock.close();
    await bridge.close();
    rmSync(outDir, { recursive: true, force: true });
  }
}
