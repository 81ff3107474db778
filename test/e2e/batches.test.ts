/**
 * The Batches API proof of issue #18, end to end: the stack `npm start` runs (startStack: both
 * workers under `wrangler dev`, the local queues and R2, the mock upstream), driven by the official
 * openai client. The scenario is shared with `npm run bench:batch` (test/support/batch-scenario.ts).
 *
 * Runs on DATABASE_URL's server or on embedded Postgres (dev/pglite-server.ts keeps each
 * connection's protocol exchange and transaction to itself; its predecessor interleaved them, which
 * once answered `GET /batches/{id}` 404 right after `POST /batches`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../../dev/stack.ts";
import { BATCH_24H_TARIFF, batchBilling, batchClient, batchFile, REALTIME_TARIFF, runBatch, setBatchTariffs } from "../support/batch-scenario.ts";
import { createTestDatabase, type TestDatabase } from "../support/test-database.ts";

const LINES = 1000;
let stack: Stack;
let db: TestDatabase | undefined;
let stateDir: string;

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "tollgate-e2e-batches-"));
  db = await createTestDatabase("e2e_batches");
  stack = await startStack({ databaseUrl: db.url, port: 0, stateDir, log: () => {}, wranglerOutput: "ignore" });
});

afterAll(async () => {
  await stack?.stop();
  await db?.drop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

describe("the Batches API, end to end", () => {
  it(
    "a 1,000-line 24h batch through the openai client completes: every custom_id once, 1,000 charges at the batch tariff, Σ ledger = Σ analytics",
    async () => {
      await setBatchTariffs(stack);
      const run = await runBatch(batchClient(stack), batchFile(stack, LINES, `e2e-${crypto.randomUUID()}`), { deadlineMs: 120_000, pollMs: 250 });
      expect(run.batch.request_counts).toEqual({ total: LINES, completed: LINES, failed: 0 });
      expect(run.batch.error_file_id).toBeNull();
      expect(run.output).toHaveLength(LINES);
      expect(new Set(run.output.map((l) => l.custom_id))).toEqual(new Set(Array.from({ length: LINES }, (_, i) => `r-${i}`)));
      expect(run.output.every((l) => l.response?.status_code === 200)).toBe(true);

      const billing = await batchBilling(stack.databaseUrl, run.batch.id, LINES, 60_000);
      expect(billing.rows).toBe(LINES);
      expect(billing.charges).toBe(LINES);
      // The mock answers every request with 12 prompt + 9 completion tokens: one price for all 1,000.
      const batchPrice = 12 * Number(BATCH_24H_TARIFF.input) + 9 * Number(BATCH_24H_TARIFF.output);
      const realtimePrice = 12 * Number(REALTIME_TARIFF.input) + 9 * Number(REALTIME_TARIFF.output);
      expect(billing.amounts).toHaveLength(1);
      expect(Number(billing.amounts[0])).toBeCloseTo(batchPrice, 12);
      expect(batchPrice).toBeLessThan(realtimePrice);
      expect(billing.ledger).toBe(billing.analytics);
    },
    240_000,
  );
});
