/**
 * `npm run bench:consumer` — what the consumer's write path costs against the floor, in one run on
 * one Postgres (a fresh database on DATABASE_URL's server, else embedded PGlite).
 *
 *   write path  the real `writeUsageBatch` (workers/consumer/src/usage-writer.ts) over node-postgres:
 *               one enrichment query, pricing, then one transaction — analytics UNNEST insert,
 *               ledger insert, checkpoint fold — per batch of 100 messages
 *   COPY floor  the same analytics and ledger rows (priced beforehand, off the clock) written with
 *               COPY … FROM STDIN, one transaction per batch of 100; no enrichment, no fold.
 *               PGlite cannot take COPY … FROM STDIN over the wire (dev/pglite-server.ts), so on
 *               embedded Postgres the floor uses PGlite's own in-process `COPY … FROM '/dev/blob'` —
 *               without the socket hop the write path pays, so the embedded ratio is a conservative
 *               one
 *
 * The two are interleaved batch by batch so table growth and cache warmth hit both alike. A row
 * is one usage message (its analytics row plus its ledger row). Informational extras: the write
 * path from 4 concurrent writers (the queue's max_concurrency), and through the Neon driver over
 * the loopback WebSocket bridge (the production driver; it adds the bridge hop).
 *
 * Then the end-to-end lag (bench/consumer-lag.ts): both workers in one workerd (Miniflare, each
 * configured from its wrangler.toml, the local queue between them) on the same database,
 * BENCH_LAG_RATE requests/s for BENCH_LAG_SECONDS, lag = analytics row written − request arrival −
 * duration. BENCH_LAG=0 skips it (lag_* are then null).
 *
 * Environment: DATABASE_URL (else embedded), BENCH_BATCHES (default 100), BENCH_USERS (50),
 * BENCH_LAG (1), BENCH_LAG_RATE (200), BENCH_LAG_SECONDS (10).
 * Loopback only; stops by itself. The last line of output is one JSON object.
 */
import { PGlite } from "@electric-sql/pglite";
import { neonConfig } from "@neondatabase/serverless";
import pg from "pg";
import ws from "ws";
import { migrate } from "../dev/migrate.ts";
import { servePglite } from "../dev/pglite-server.ts";
import { startWsBridge } from "../dev/ws-bridge.ts";
import { createPool } from "../shared/db.ts";
import { errorMessage } from "../shared/errors.ts";
import { insertHttpAnalytics } from "../shared/sql/http-analytics.ts";
import { LEDGER_INSERT_COLUMNS, ledgerColumnValues, usageCharges } from "../shared/sql/usage-write.ts";
import type { UsageMessageV1 } from "../shared/usage-message.ts";
import { planUsageBatch } from "../workers/consumer/src/usage-plan.ts";
import { lookupKeyOwners, lookupModelPricing, writeUsageBatch } from "../workers/consumer/src/usage-writer.ts";
import { createKey, createModel, createTariff, createUser, grantCredits } from "../test/support/db-fixtures.ts";
import { sampleMessage } from "../test/support/samples.ts";
import { createTestDatabase } from "../test/support/test-database.ts";
import { copyFrom, copyPayload } from "./consumer-copy.ts";
import { measureLag, type LagResult } from "./consumer-lag.ts";

const num = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const BATCHES = num("BENCH_BATCHES", 100);
const USERS = num("BENCH_USERS", 50);
const BATCH_SIZE = 100;
const WARMUP_BATCHES = 5;
const CONCURRENT_WRITERS = 4;
const LAG = num("BENCH_LAG", 1) !== 0;
const LAG_RATE = num("BENCH_LAG_RATE", 200);
const LAG_SECONDS = num("BENCH_LAG_SECONDS", 10);

const log = (msg: string) => console.error(`· ${msg}`);

const LEDGER_COLUMNS = LEDGER_INSERT_COLUMNS.join(", ");

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface BenchDatabase {
  url: string;
  embedded: boolean;
  /** One batch's COPY: analytics then ledger, in one transaction. */
  copyBatch(copier: pg.Client, analytics: { columns: string; payload: Buffer }, ledger: { columns: string; payload: Buffer }): Promise<void>;
  drop(): Promise<void>;
}

/** A fresh database: on DATABASE_URL's server, else an in-memory PGlite this process can also COPY into. */
async function openDatabase(): Promise<BenchDatabase> {
  if (process.env.DATABASE_URL) {
    const db = await createTestDatabase("bench_consumer");
    return {
      url: db.url,
      embedded: false,
      async copyBatch(copier, analytics, ledger) {
        await copier.query("BEGIN");
        await copyFrom(copier, `COPY http_analytics (${analytics.columns}) FROM STDIN`, analytics.payload);
        await copyFrom(copier, `COPY credits_transactions (${ledger.columns}) FROM STDIN`, ledger.payload);
        await copier.query("COMMIT");
      },
      drop: () => db.drop(),
    };
  }
  const lite = await PGlite.create();
  const server = await servePglite(lite);
  const url = `postgres://postgres:postgres@127.0.0.1:${server.port}/postgres`;
  await migrate(url);
  return {
    url,
    embedded: true,
    async copyBatch(_copier, analytics, ledger) {
      await lite.transaction(async (tx) => {
        await tx.query(`COPY http_analytics (${analytics.columns}) FROM '/dev/blob'`, [], { blob: new Blob([new Uint8Array(analytics.payload)]) });
        await tx.query(`COPY credits_transactions (${ledger.columns}) FROM '/dev/blob'`, [], { blob: new Blob([new Uint8Array(ledger.payload)]) });
      });
    },
    async drop() {
      await server.close();
      await lite.close();
    },
  };
}

async function main(): Promise<void> {
  const db = await openDatabase();
  const clients: pg.Client[] = [];
  const connect = async () => {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    clients.push(c);
    return c;
  };
  let bridge: Awaited<ReturnType<typeof startWsBridge>> | undefined;
  try {
    log(`database: ${db.embedded ? "embedded PGlite" : "DATABASE_URL's server"} (fresh database)`);
    const admin = await connect();
    const model = await createModel(admin, { url: "http://127.0.0.1:9/v1" });
    await createTariff(admin, model.modelId, { purpose: "realtime", input: "0.0000013", output: "0.0000071" });
    await createTariff(admin, model.modelId, { purpose: "batch", input: "0.00000065", output: "0.0000035" });
    const keys: string[] = [];
    for (let i = 0; i < USERS; i++) {
      const userId = await createUser(admin);
      await grantCredits(admin, userId, "1000000");
      keys.push((await createKey(admin, userId, i % 5 === 0 ? "batch" : "realtime")).id);
    }
    let n = 0;
    const makeBatch = (): UsageMessageV1[] =>
      Array.from({ length: BATCH_SIZE }, () => {
        n++;
        const prompt = 50 + ((n * 7919) % 4000);
        const completion = 10 + ((n * 104729) % 1500);
        return sampleMessage({
          model: model.alias,
          api_key_id: keys[n % keys.length]!,
          usage: { prompt_tokens: prompt, completion_tokens: completion, reasoning_tokens: 0, total_tokens: prompt + completion, cached_tokens: 0 },
        });
      });

    // ---- write path vs COPY, interleaved ------------------------------------------------------
    const writer = await connect();
    const copier = await connect();
    for (let i = 0; i < WARMUP_BATCHES; i++) await writeUsageBatch(writer, makeBatch());

    const writeMs: number[] = [];
    const copyMs: number[] = [];
    for (let b = 0; b < BATCHES; b++) {
      // The messages are made off the clock, as the floor's rows are: only the write path is timed.
      const batch = makeBatch();
      const t0 = performance.now();
      const out = await writeUsageBatch(writer, batch);
      writeMs.push(performance.now() - t0);
      if (out.charged !== BATCH_SIZE) throw new Error(`write path charged ${out.charged} of ${BATCH_SIZE}`);

      // The floor's rows: priced exactly as the write path would, off the clock.
      const messages = makeBatch();
      const plan = planUsageBatch(messages, await lookupKeyOwners(copier, messages), await lookupModelPricing(copier, messages));
      const analytics = insertHttpAnalytics(plan.rows);
      const analyticsColumns = analytics.text.slice(analytics.text.indexOf("(") + 1, analytics.text.indexOf(")"));
      const analyticsPayload = copyPayload(analytics.values);
      const ledgerPayload = copyPayload(ledgerColumnValues(usageCharges(plan.rows)));

      const t1 = performance.now();
      await db.copyBatch(copier, { columns: analyticsColumns, payload: analyticsPayload }, { columns: LEDGER_COLUMNS, payload: ledgerPayload });
      copyMs.push(performance.now() - t1);
      if ((b + 1) % 25 === 0) log(`${b + 1}/${BATCHES} batches`);
    }
    const rows = BATCHES * BATCH_SIZE;
    const sum = (xs: number[]) => xs.reduce((a, x) => a + x, 0);
    const rowsPerS = rows / (sum(writeMs) / 1000);
    const copyRowsPerS = rows / (sum(copyMs) / 1000);

    // ---- informational: concurrent writers ----------------------------------------------------
    const concurrent = await Promise.all(Array.from({ length: CONCURRENT_WRITERS }, () => connect()));
    const perWriter = Math.max(1, Math.floor(BATCHES / CONCURRENT_WRITERS));
    const tc = performance.now();
    await Promise.all(
      concurrent.map(async (c) => {
        for (let b = 0; b < perWriter; b++) await writeUsageBatch(c, makeBatch());
      }),
    );
    const concurrentRowsPerS = (perWriter * CONCURRENT_WRITERS * BATCH_SIZE) / ((performance.now() - tc) / 1000);

    // ---- informational: the Neon driver (production) over the loopback bridge -----------------
    let neonRowsPerS: number | null = null;
    try {
      bridge = await startWsBridge();
      neonConfig.webSocketConstructor = ws;
      const pool = createPool({ DATABASE_URL: db.url, NEON_WS_PROXY: bridge.proxy, NEON_INSECURE_WEBSOCKET: "true" }, 1);
      try {
        const client = await pool.connect();
        try {
          for (let i = 0; i < WARMUP_BATCHES; i++) await writeUsageBatch(client, makeBatch());
          const neonBatches = Math.max(10, Math.floor(BATCHES / 2));
          const tn = performance.now();
          for (let b = 0; b < neonBatches; b++) await writeUsageBatch(client, makeBatch());
          neonRowsPerS = (neonBatches * BATCH_SIZE) / ((performance.now() - tn) / 1000);
        } finally {
          client.release();
        }
      } finally {
        await pool.end();
      }
    } catch (err) {
      log(`Neon driver run skipped: ${errorMessage(err)}`);
    }

    // ---- end-to-end lag through the local queue -------------------------------------------------
    let lag: LagResult | null = null;
    if (LAG) {
      try {
        lag = await measureLag({ databaseUrl: db.url, rate: LAG_RATE, seconds: LAG_SECONDS, log });
        if (lag.recorded < lag.ok) log(`lag: only ${lag.recorded} of ${lag.ok} successful requests were recorded within 60 s`);
      } catch (err) {
        log(`lag run failed: ${errorMessage(err)}`);
      }
    }

    const sortedWrite = [...writeMs].sort((a, b) => a - b);
    const sortedCopy = [...copyMs].sort((a, b) => a - b);
    const fmt = (x: number) => x.toFixed(x >= 100 ? 0 : 2);
    const table = [
      ["path", "rows/s", "batch p50 ms", "batch p99 ms"],
      ["write path (pg, 1 writer)", fmt(rowsPerS), fmt(percentile(sortedWrite, 50)), fmt(percentile(sortedWrite, 99))],
      [db.embedded ? "COPY floor (PGlite in-process)" : "COPY floor (pg, 1 writer)", fmt(copyRowsPerS), fmt(percentile(sortedCopy, 50)), fmt(percentile(sortedCopy, 99))],
      [`write path (pg, ${CONCURRENT_WRITERS} writers)`, fmt(concurrentRowsPerS), "", ""],
      ["write path (Neon driver via ws bridge)", neonRowsPerS === null ? "n/a" : fmt(neonRowsPerS), "", ""],
    ];
    // A lag figure only means something if the stack served the load: otherwise it measures
    // the failures (timeouts, retries), not the metering path.
    const lagValid = lag !== null && lag.ok >= 0.95 * lag.sent && lag.recorded >= lag.ok;
    const lagNote = !LAG
      ? "BENCH_LAG=0"
      : lag === null
        ? "the stack failed to start"
        : lagValid
          ? "ok"
          : `invalid: only ${lag.ok}/${lag.sent} requests succeeded and ${lag.recorded} were recorded within 60 s`;
    const lagLine = lag
      ? `end-to-end lag at ${LAG_RATE} req/s (${lag.ok}/${lag.sent} ok, ${lag.recorded} recorded): p50 ${fmt(lag.p50Ms)} ms, p99 ${fmt(lag.p99Ms)} ms, max ${fmt(lag.maxMs)} ms${lagValid ? "" : " — NOT VALID, see lag_note"}`
      : `end-to-end lag: not measured (${lagNote})`;
    const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
    console.log(`\n${table.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")).join("\n")}`);
    console.log(`\n${rows} messages in batches of ${BATCH_SIZE} on ${db.embedded ? "embedded PGlite" : "Postgres (DATABASE_URL)"}; ratio write path / COPY = ${(rowsPerS / copyRowsPerS).toFixed(2)}\n${lagLine}\n`);
    console.log(
      JSON.stringify({
        rows_per_s: Math.round(rowsPerS),
        copy_rows_per_s: Math.round(copyRowsPerS),
        ratio_vs_copy: Number((rowsPerS / copyRowsPerS).toFixed(3)),
        lag_p50_ms: lag && lagValid ? Math.round(lag.p50Ms) : null,
        lag_p99_ms: lag && lagValid ? Math.round(lag.p99Ms) : null,
        lag_rate: LAG_RATE,
        lag_note: lagNote,
        batch_p50_ms: Number(percentile(sortedWrite, 50).toFixed(2)),
        batch_p99_ms: Number(percentile(sortedWrite, 99).toFixed(2)),
        concurrent_rows_per_s: Math.round(concurrentRowsPerS),
        neon_rows_per_s: neonRowsPerS === null ? null : Math.round(neonRowsPerS),
        batch_size: BATCH_SIZE,
        messages: rows,
        database: db.embedded ? "embedded" : "postgres",
      }),
    );
  } finally {
    for (const c of clients) await c.end().catch(() => undefined);
    await bridge?.close();
    await db.drop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench:consumer failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
