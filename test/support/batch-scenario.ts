/**
 * The Batches API scenario of issue #18, shared by `npm run bench:batch` (bench/batch.ts) and the
 * end-to-end test (test/e2e/batches.test.ts): on the stack `npm start` runs, with the official
 * openai client — a 24h batch tariff at half the demo model's realtime price, one JSONL file of N
 * chat requests, one 24h batch polled to an end, its output file, and the ledger the consumer
 * writes for it.
 */
import OpenAI, { toFile } from "openai";
import pg from "pg";
import type { Stack } from "../../dev/stack.ts";
import { batchRowId } from "../../shared/batch-message.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The demo model's tariffs the scenario sets: realtime 12 × 1e-6 + 9 × 2e-6 = 0.00003 a request. */
export const REALTIME_TARIFF = { input: "0.000001", output: "0.000002" } as const;
export const BATCH_24H_TARIFF = { input: "0.0000005", output: "0.000001" } as const;

/** Sets the demo model's realtime tariff and a 24h batch tariff at half its price. */
export async function setBatchTariffs(stack: Stack): Promise<void> {
  const admin = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${stack.gatewayUrl}/admin/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${stack.adminToken}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const models = await admin<{ data: { id: string; alias: string }[] }>("GET", "/models?limit=1000");
  const modelId = models.data.find((m) => m.alias === stack.modelAlias)!.id;
  await admin("PUT", `/models/${modelId}/tariffs`, [
    { purpose: "realtime", completion_window: null, input_price_per_token: REALTIME_TARIFF.input, output_price_per_token: REALTIME_TARIFF.output },
    { purpose: "batch", completion_window: "24h", input_price_per_token: BATCH_24H_TARIFF.input, output_price_per_token: BATCH_24H_TARIFF.output },
  ]);
}

export const batchClient = (stack: Stack) => new OpenAI({ apiKey: stack.demoKey, baseURL: `${stack.gatewayUrl}/ai/v1`, maxRetries: 0 });

/** `lines` chat requests `r-0` … naming the demo model, each message carrying `marker`. */
export function batchFile(stack: Stack, lines: number, marker: string): string {
  return Array.from({ length: lines }, (_, i) =>
    JSON.stringify({ custom_id: `r-${i}`, method: "POST", url: "/v1/chat/completions", body: { model: stack.modelAlias, messages: [{ role: "user", content: `${marker} ${i}` }] } }),
  ).join("\n");
}

export interface BatchRun {
  batch: OpenAI.Batches.Batch;
  /** performance.now() when POST /batches answered, and when the batch was seen completed. */
  created: number;
  completed: number;
  /** The output file's lines, parsed. */
  output: { custom_id: string; response: { status_code: number } | null }[];
}

/**
 * Uploads `text` (purpose "batch"), creates a 24h batch, runs `afterCreate` (the bench watches for
 * the first upstream call), then polls every `pollMs` until `completed`. Throws with the batch's
 * status and counts when it ends otherwise or `deadlineMs` passes.
 */
export async function runBatch(
  client: OpenAI,
  text: string,
  { deadlineMs, pollMs = 50, afterCreate }: { deadlineMs: number; pollMs?: number; afterCreate?: () => Promise<void> },
): Promise<BatchRun> {
  const file = await client.files.create({ file: await toFile(Buffer.from(text), "batch.jsonl"), purpose: "batch" });
  const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
  const created = performance.now();
  await afterCreate?.();
  let current = batch;
  while (current.status !== "completed") {
    const state = () => `batch ${batch.id} ${current.status}, counts ${JSON.stringify(current.request_counts)}`;
    if (["failed", "expired", "cancelled"].includes(current.status)) throw new Error(`${state()}; errors ${JSON.stringify(current.errors)}`);
    if (performance.now() - created > deadlineMs) throw new Error(`${state()} after ${deadlineMs} ms`);
    await sleep(pollMs);
    current = await client.batches.retrieve(batch.id);
  }
  const completed = performance.now();
  const output = (await (await client.files.content(current.output_file_id!)).text())
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as BatchRun["output"][number]);
  return { batch: current, created, completed, output };
}

export interface BatchBilling {
  /** http_analytics rows and usage charges for the batch. */
  rows: number;
  charges: number;
  /** The distinct charge amounts (text, exact). */
  amounts: string[];
  /** Σ ledger and Σ analytics cost (text, exact). */
  ledger: string;
  analytics: string;
}

/** The consumer's write for a batch: waits (up to `timeoutMs`) for `expected` rows and charges. */
export async function batchBilling(databaseUrl: string, batchId: string, expected: number, timeoutMs = 120_000): Promise<BatchBilling> {
  const uuid = batchRowId(batchId)!;
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    let billing: BatchBilling | undefined;
    for (const until = Date.now() + timeoutMs; ; await sleep(250)) {
      const { rows } = await db.query<BatchBilling>(
        `SELECT (SELECT count(*)::int FROM http_analytics WHERE fusillade_batch_id = $1) AS rows,
                (SELECT count(*)::int FROM credits_transactions WHERE fusillade_batch_id = $1 AND transaction_type = 'usage') AS charges,
                (SELECT coalesce(array_agg(DISTINCT amount::text), '{}') FROM credits_transactions WHERE fusillade_batch_id = $1 AND transaction_type = 'usage') AS amounts,
                (SELECT coalesce(sum(amount), 0)::text FROM credits_transactions WHERE fusillade_batch_id = $1) AS ledger,
                (SELECT coalesce(sum(total_cost), 0)::text FROM http_analytics WHERE fusillade_batch_id = $1) AS analytics`,
        [uuid],
      );
      billing = rows[0]!;
      if ((billing.rows >= expected && billing.charges >= expected) || Date.now() > until) return billing;
    }
  } finally {
    await db.end();
  }
}
