/**
 * `npm run bench:batch` — the Batches API's throughput, on the stack `npm start` runs (both
 * workers under `wrangler dev`, the local queues and R2, the bundled mock upstream):
 *
 *   mock saturation   chat completions sent straight to the mock upstream at BENCH_CONCURRENCY:
 *                     what the upstream itself can serve (requests/s)
 *   batch path        one file of BENCH_BATCH_LINES chat requests, one 24h batch, polled to
 *                     `completed`: requests/s from the first upstream call to completion, and the
 *                     time from `POST /ai/v1/batches` answering to the first upstream call
 *
 * The scenario itself is test/support/batch-scenario.ts, shared with test/e2e/batches.test.ts.
 * It also checks what a user relies on: the output file has every custom_id once, and once the
 * consumer has written the usage, the ledger holds one charge per request at the 24h batch tariff
 * (half the realtime price here) and Σ ledger = Σ analytics cost.
 *
 * Environment: DATABASE_URL (a fresh database on that server; else embedded Postgres),
 * BENCH_BATCH_LINES (default 1000), BENCH_CONCURRENCY (64), BENCH_SATURATION_MS (3000).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startStack } from "../dev/stack.ts";
import { batchBilling, batchClient, batchFile, runBatch, setBatchTariffs } from "../test/support/batch-scenario.ts";
import { createTestDatabase } from "../test/support/test-database.ts";

const num = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const LINES = num("BENCH_BATCH_LINES", 1000);
const CONCURRENCY = num("BENCH_CONCURRENCY", 64);
const SATURATION_MS = num("BENCH_SATURATION_MS", 3000);
const log = (msg: string) => console.error(`· ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function mockSaturation(baseUrl: string): Promise<number> {
  const body = JSON.stringify({ model: "mock-gpt", messages: [{ role: "user", content: "saturation" }] });
  let done = 0;
  const until = Date.now() + SATURATION_MS;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < until) {
        const res = await fetch(`${baseUrl}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body });
        await res.arrayBuffer();
        if (res.ok) done++;
      }
    }),
  );
  return done / ((Date.now() - started) / 1000);
}

async function main(): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), "tollgate-bench-batch-"));
  const db = process.env.DATABASE_URL ? await createTestDatabase("bench_batch") : undefined;
  log("starting the stack (wrangler dev, both workers, mock upstream)");
  const stack = await startStack({ databaseUrl: db?.url, port: 0, stateDir, log, wranglerOutput: "ignore" });
  try {
    const mock = stack.mock;
    if (!mock) throw new Error("bench:batch needs the bundled mock upstream (unset UPSTREAM_URL)");
    log(`mock saturation: ${CONCURRENCY} concurrent for ${SATURATION_MS} ms`);
    const saturation = await mockSaturation(mock.baseUrl);

    await setBatchTariffs(stack);
    const client = batchClient(stack);
    const marker = `bench-${crypto.randomUUID()}`;
    log(`uploading ${LINES} lines`);
    const sawMarker = () => mock.requests.some((r) => JSON.stringify(r.body).includes(marker));
    let firstCall = 0;
    const { created, completed, output, batch } = await runBatch(client, batchFile(stack, LINES, marker), {
      deadlineMs: 660_000,
      afterCreate: async () => {
        const since = performance.now();
        while (!sawMarker()) {
          if (performance.now() - since > 60_000) throw new Error("no upstream call within 60 s of POST /batches");
          await sleep(2);
        }
        firstCall = performance.now();
        log("first upstream call seen; polling the batch");
      },
    });
    const ids = new Set(output.map((l) => l.custom_id));
    if (output.length !== LINES || ids.size !== LINES) throw new Error(`output has ${output.length} lines, ${ids.size} distinct custom_ids; expected ${LINES}`);

    // The consumer's write: one analytics row and one charge per request.
    const billing = await batchBilling(stack.databaseUrl, batch.id, LINES);
    if (billing.rows !== LINES || billing.charges !== LINES || billing.ledger !== billing.analytics) {
      throw new Error(`billing does not reconcile: ${JSON.stringify(billing)}`);
    }

    const rate = LINES / ((completed - firstCall) / 1000);
    console.log(
      [
        `## bench:batch (${LINES} requests, noisy shared machine; wrangler dev, local queue)`,
        `| measure | value |`,
        `|---|---|`,
        `| mock upstream saturation (direct, ${CONCURRENCY} concurrent) | ${saturation.toFixed(0)} req/s |`,
        `| batch path, first upstream call → completed | ${rate.toFixed(1)} req/s |`,
        `| POST /batches answered → first upstream call | ${(firstCall - created).toFixed(0)} ms |`,
        `| POST /batches answered → batch completed (polled every 50 ms) | ${((completed - created) / 1000).toFixed(2)} s |`,
        `| output file | ${output.length} lines, every custom_id once |`,
        `| ledger | ${billing.charges} charges of ${billing.amounts.join(", ")} credits (24h batch tariff; realtime would be 0.00003), Σ ${billing.ledger} = Σ analytics ${billing.analytics} |`,
      ].join("\n"),
    );
  } finally {
    await stack.stop();
    await db?.drop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
