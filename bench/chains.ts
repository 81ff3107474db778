/**
 * `npm run bench:chains` — read-after-write for stored responses, on the stack `npm start` runs
 * (both workers under `wrangler dev`, the real queue and consumer, Postgres):
 *
 *   chains    BENCH_CHAINS (default 1000) agent-loop steps: `responses.create`, then at once —
 *             with no wait — `responses.create({previous_response_id})` and `responses.retrieve`
 *             of the first, through the unmodified `openai` client; every failure is counted.
 *             Half the steps stream the first response (`responses.stream().finalResponse()`).
 *   latency   the price on the response path: interleaved `POST /ai/v1/responses` with
 *             `store: true` (R2 copy written before the last byte) and `store: false` (nothing
 *             stored), BENCH_LATENCY_ROUNDS (default 300) of each; medians and p95.
 *
 * Afterwards it waits for the queue path to write every row to Postgres (the durable record).
 * Environment: DATABASE_URL (a fresh database on that server; else embedded Postgres),
 * BENCH_CONCURRENCY (default 8). Loopback only; stops by itself.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import pg from "pg";
import { startStack } from "../dev/stack.ts";
import { errorMessage } from "../shared/errors.ts";

const num = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const CHAINS = num("BENCH_CHAINS", 1000);
const LATENCY_ROUNDS = num("BENCH_LATENCY_ROUNDS", 300);
const CONCURRENCY = num("BENCH_CONCURRENCY", 8);
const log = (msg: string) => console.error(`· ${msg}`);

async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> } | undefined> {
  const base = process.env.DATABASE_URL;
  if (!base) return undefined;
  const name = `tollgate_bench_chains_${process.pid}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const ms = (n: number) => `${n.toFixed(1)} ms`;

async function main(): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), "tollgate-bench-chains-"));
  const db = await freshDatabase();
  const stack = await startStack({ databaseUrl: db?.url, port: 0, stateDir, log, wranglerOutput: "ignore" });
  const pgClient = new pg.Client({ connectionString: stack.databaseUrl });
  await pgClient.connect();
  try {
    const client = new OpenAI({ apiKey: stack.demoKey, baseURL: `${stack.gatewayUrl}/ai/v1`, maxRetries: 0 });
    const model = stack.modelAlias;
    // Warm the isolate's caches so the first steps measure the steady state.
    for (let i = 0; i < 5; i++) await client.responses.create({ model, input: "warm up", store: false });

    log(`${CHAINS} immediate chains, ${CONCURRENCY} at a time`);
    const failures: string[] = [];
    const ids: string[] = [];
    let next = 0;
    const started = Date.now();
    const worker = async () => {
      for (let i = next++; i < CHAINS; i = next++) {
        try {
          const first =
            i % 2 === 0
              ? await client.responses.create({ model, input: `step ${i}` })
              : await client.responses.stream({ model, input: `step ${i}` }).finalResponse();
          const [second, retrieved] = await Promise.all([
            client.responses.create({ model, input: "continue", previous_response_id: first.id }),
            client.responses.retrieve(first.id),
          ]);
          if (second.previous_response_id !== first.id || retrieved.id !== first.id) throw new Error(`wrong objects for ${first.id}`);
          ids.push(first.id, second.id);
        } catch (err) {
          failures.push(`step ${i}: ${errorMessage(err)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const chainSeconds = (Date.now() - started) / 1000;

    log(`${LATENCY_ROUNDS} interleaved rounds of store: true / store: false`);
    const stored: number[] = [];
    const unstored: number[] = [];
    const time = async (store: boolean) => {
      const t = performance.now();
      await client.responses.create({ model, input: "latency", store });
      (store ? stored : unstored).push(performance.now() - t);
    };
    for (let i = 0; i < LATENCY_ROUNDS; i++) {
      if (i % 2 === 0) {
        await time(true);
        await time(false);
      } else {
        await time(false);
        await time(true);
      }
    }
    stored.sort((a, b) => a - b);
    unstored.sort((a, b) => a - b);

    log("waiting for the queue path to write every row");
    const deadline = Date.now() + 60_000;
    let rows = 0;
    for (;;) {
      rows = Number((await pgClient.query<{ n: string }>("SELECT count(*) AS n FROM requests WHERE id = ANY($1)", [ids])).rows[0]!.n);
      if (rows === ids.length || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }

    console.log(`\nread-after-write chains (${CONCURRENCY} concurrent, half streamed): ${CHAINS} steps in ${chainSeconds.toFixed(1)} s, ${failures.length} failures`);
    for (const f of failures.slice(0, 10)) console.log(`  ${f}`);
    console.log(`rows in Postgres afterwards (queue path): ${rows} of ${ids.length}`);
    console.log(`POST /ai/v1/responses, ${LATENCY_ROUNDS} interleaved rounds each:`);
    console.log(`  store: true   p50 ${ms(quantile(stored, 0.5))}  p95 ${ms(quantile(stored, 0.95))}`);
    console.log(`  store: false  p50 ${ms(quantile(unstored, 0.5))}  p95 ${ms(quantile(unstored, 0.95))}`);
    console.log(`  added by the read-after-write copy: p50 ${ms(quantile(stored, 0.5) - quantile(unstored, 0.5))}, p95 ${ms(quantile(stored, 0.95) - quantile(unstored, 0.95))}`);
    console.log("  (local R2 is miniflare's on-disk store; Cloudflare's R2 put adds its own round trip)");
    process.exitCode = failures.length === 0 && rows === ids.length ? 0 : 1;
  } finally {
    await pgClient.end();
    await stack.stop();
    await db?.drop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

await main();
