/**
 * The Files and Batches APIs in workerd: the batch queue is consumed by the gateway itself (as in
 * production), against the mock upstream and real Postgres. Usage records are written by the
 * consumer's real write path (writeUsageBatch), so ledger assertions are the ones users see.
 */
import { createExecutionContext, createMessageBatch, env, getQueueResult, SELF } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { batchRowId } from "../../../shared/batch-message.ts";
import { createPool, DbSettingsSchema, type Pool } from "../../../shared/db.ts";
import type { UsageMessage } from "../../../shared/usage-message.ts";
import gateway from "../../../workers/gateway/src/index.ts";
import { writeUsageBatch } from "../../../workers/consumer/src/usage-writer.ts";
import { createKey, createModel, createTariff, createUser, grantCredits, type ModelFixture } from "../../support/db-fixtures.ts";
import OpenAI, { toFile } from "openai";
import { api as adminApi, ok as jsonWith, principal as adminPrincipal } from "./admin-helpers.ts";
import { expectError, mockBase, sleep, upstreamRequests } from "./helpers.ts";
import { received } from "./test-main.ts";

let pool: Pool;
let userId: string;
let key: string;
let otherKey: string;
let model: ModelFixture;
let failing: ModelFixture;
let waiting: ModelFixture;
let hanging: ModelFixture;

beforeAll(async () => {
  pool = createPool(DbSettingsSchema.parse(env));
  userId = await createUser(pool);
  ({ key } = await createKey(pool, userId));
  ({ key: otherKey } = await createKey(pool, await createUser(pool)));
  await grantCredits(pool, userId, "100");
  model = await createModel(pool, { url: mockBase(), modelName: "mock-gpt" });
  failing = await createModel(pool, { url: mockBase(), modelName: "mock-gpt+http_500" });
  waiting = await createModel(pool, { url: mockBase(), modelName: "mock-gpt+wait" });
  hanging = await createModel(pool, { url: mockBase(), modelName: "mock-gpt+hang" });
  for (const m of [model, failing, waiting, hanging]) {
    await createTariff(pool, m.modelId, { purpose: "realtime", input: "0.00001", output: "0.00002" });
    await createTariff(pool, m.modelId, { purpose: "batch", completionWindow: "24h", input: "0.000005", output: "0.00001" });
  }
});

afterAll(async () => {
  await pool?.end();
});

const api = (method: string, path: string, k: string, body?: unknown) =>
  SELF.fetch(`https://gateway.test/ai/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${k}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

function upload(text: string, k = key): Promise<Response> {
  const form = new FormData();
  form.append("purpose", "batch");
  form.append("file", new File([text], "input.jsonl"));
  return SELF.fetch("https://gateway.test/ai/v1/files", { method: "POST", headers: { authorization: `Bearer ${k}` }, body: form });
}

const line = (customId: string, alias: string, marker: string) =>
  JSON.stringify({ custom_id: customId, method: "POST", url: "/v1/chat/completions", body: { model: alias, messages: [{ role: "user", content: `${marker} ${customId}` }] } });

interface Batch {
  id: string;
  status: string;
  created_at: number;
  output_file_id: string | null;
  error_file_id: string | null;
  request_counts: { total: number; completed: number; failed: number };
}

async function createBatch(lines: string[], window = "24h"): Promise<Batch> {
  const res = await upload(lines.join("\n") + "\n");
  expect(res.status, await res.clone().text()).toBe(200);
  const file = (await res.json()) as { id: string };
  const created = await api("POST", "/batches", key, { input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: window, metadata: { test: "yes" } });
  expect(created.status, await created.clone().text()).toBe(200);
  return (await created.json()) as Batch;
}

async function waitFor(id: string, done: (b: Batch) => boolean, timeoutMs = 18_000): Promise<Batch> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const b = (await (await api("GET", `/batches/${id}`, key)).json()) as Batch;
    if (done(b) || Date.now() > deadline) return b;
    await sleep(100);
  }
}

async function contentLines(fileId: string | null): Promise<{ custom_id: string; response: { status_code: number; body: { model?: string } } | null; error: { code: string } | null }[]> {
  if (!fileId) return [];
  const res = await api("GET", `/files/${fileId}/content`, key);
  expect(res.status).toBe(200);
  return (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
}

const upstreamCount = async (marker: string) => (await upstreamRequests()).filter((r) => JSON.stringify(r.body).includes(marker)).length;

async function usageFor(batchUuid: string, count: number): Promise<UsageMessage[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = received.filter((m) => m.batch?.batch_id === batchUuid);
    if (found.length >= count || Date.now() > deadline) return found;
    await sleep(50);
  }
}

describe("Files API", () => {
  it("refuses a bad file naming its first bad line, stores a good one for its owner only", async () => {
    const good = [line("a", model.alias, "f"), line("b", model.alias, "f")];
    const dup = await upload([...good, line("a", model.alias, "f")].join("\n"));
    expect((await expectError(dup, 400, "invalid_request_error")).message).toMatch(/^Line 3 .*custom_id/);
    const badUrl = await upload([good[0], JSON.stringify({ custom_id: "x", method: "POST", url: "/v1/images", body: { model: model.alias } })].join("\n"));
    expect((await expectError(badUrl, 400, "invalid_request_error")).message).toMatch(/^Line 2 .*url/);
    const unknownModel = await upload(line("a", "no-such-model", "f"));
    expect((await expectError(unknownModel, 400, "invalid_request_error")).message).toMatch(/^Line 1 .*model/);
    expect((await expectError(await upload("{not json\n"), 400, "invalid_request_error")).message).toMatch(/^Line 1 /);

    const text = good.join("\n") + "\n";
    const res = await upload(text);
    expect(res.status).toBe(200);
    const file = (await res.json()) as { id: string; object: string; bytes: number; purpose: string; filename: string };
    expect(file).toMatchObject({ object: "file", bytes: text.length, purpose: "batch", filename: "input.jsonl" });
    expect(file.id).toMatch(/^file-[0-9a-f]{32}$/);
    expect(await (await api("GET", `/files/${file.id}/content`, key)).text()).toBe(text);
    const list = (await (await api("GET", "/files", key)).json()) as { data: { id: string }[] };
    expect(list.data.map((f) => f.id)).toContain(file.id);

    await expectError(await api("GET", `/files/${file.id}`, otherKey), 404, "not_found");
    await expectError(await api("GET", `/files/${file.id}/content`, otherKey), 404, "not_found");
    await expectError(await api("DELETE", `/files/${file.id}`, otherKey), 404, "not_found");
    expect(await (await api("DELETE", `/files/${file.id}`, key)).json()).toEqual({ id: file.id, object: "file", deleted: true });
    await expectError(await api("GET", `/files/${file.id}`, key), 404, "not_found");
  });
});

describe("Files API, streamed", () => {
  it("stores a file larger than one R2 upload part byte for byte; a wrong purpose after the file stores nothing", async () => {
    const pad = "x".repeat(10_000);
    const lines = Array.from({ length: 1_100 }, (_, i) =>
      JSON.stringify({ custom_id: `big-${i}`, method: "POST", url: "/v1/embeddings", body: { model: model.alias, input: `${pad} é😀 ${i}` } }),
    );
    const text = lines.join("\r\n") + "\r\n";
    const res = await upload(text);
    expect(res.status, await res.clone().text()).toBe(200);
    const file = (await res.json()) as { id: string; bytes: number };
    const bytes = new TextEncoder().encode(text);
    expect(file.bytes).toBe(bytes.length);
    expect(bytes.length).toBeGreaterThan(10 * 1024 * 1024);
    const stored = new Uint8Array(await (await api("GET", `/files/${file.id}/content`, key)).arrayBuffer());
    expect(stored.length).toBe(bytes.length);
    const digest = async (b: Uint8Array) => new Uint8Array(await crypto.subtle.digest("SHA-256", b)).join(",");
    expect(await digest(stored)).toBe(await digest(bytes));

    const form = new FormData();
    form.append("file", new File([lines[0]!], "x.jsonl"));
    form.append("purpose", "fine-tune");
    const before = await (await api("GET", "/files", key)).json();
    const wrong = await SELF.fetch("https://gateway.test/ai/v1/files", { method: "POST", headers: { authorization: `Bearer ${key}` }, body: form });
    expect((await expectError(wrong, 400, "invalid_request_error")).param).toBe("purpose");
    expect(await (await api("GET", "/files", key)).json()).toEqual(before);
  });
});

describe("Batches API", () => {
  it("runs a 24h batch to completion: every custom_id once, charged at the 24h batch tariff", async () => {
    const marker = `m-${crypto.randomUUID()}`;
    const lines = Array.from({ length: 40 }, (_, i) => line(`req-${i}`, model.alias, marker));
    const created = await createBatch(lines);
    expect(created).toMatchObject({ object: "batch", status: "validating", endpoint: "/v1/chat/completions", completion_window: "24h", metadata: { test: "yes" } });
    await expectError(await api("GET", `/batches/${created.id}`, otherKey), 404, "not_found");

    const done = await waitFor(created.id, (b) => b.status === "completed");
    expect(done.status).toBe("completed");
    expect(done.request_counts).toEqual({ total: 40, completed: 40, failed: 0 });
    expect(done.error_file_id).toBeNull();
    const out = await contentLines(done.output_file_id);
    expect(out.map((l) => l.custom_id).sort()).toEqual(lines.map((_, i) => `req-${i}`).sort());
    expect(out.every((l) => l.response?.status_code === 200 && l.response.body.model === model.alias && l.error === null)).toBe(true);
    expect(await upstreamCount(marker)).toBe(40);

    const uuid = batchRowId(created.id)!;
    // Read in over three queue messages (BATCH_START_LINES is 16 here): each line once, numbered as in the file.
    const { rows: read } = await pool.query<{ line: number; custom_id: string }>("SELECT line, custom_id FROM batch_requests WHERE batch_id = $1 ORDER BY line", [uuid]);
    expect(read).toEqual(lines.map((_, i) => ({ line: i + 1, custom_id: `req-${i}` })));
    const usage = await usageFor(uuid, 40);
    expect(usage).toHaveLength(40);
    expect(new Set(usage.map((m) => m.batch?.custom_id)).size).toBe(40);
    expect(usage.every((m) => m.batch?.completion_window === "24h" && m.batch.request_id !== null && m.batch.created_at === usage[0]!.batch!.created_at)).toBe(true);
    expect(Math.floor(Date.parse(usage[0]!.batch!.created_at!) / 1000)).toBe(created.created_at);

    const client = await pool.connect();
    try {
      await writeUsageBatch(client, usage);
    } finally {
      client.release();
    }
    const ledger = await pool.query<{ amount: string }>("SELECT amount::text AS amount FROM credits_transactions WHERE fusillade_batch_id = $1 AND transaction_type = 'usage'", [uuid]);
    // 12 prompt × 0.000005 + 9 completion × 0.00001 = 0.00015 (realtime: 0.0003).
    expect(ledger.rows.map((r) => Number(r.amount))).toEqual(Array(40).fill(0.00015));
    const sums = await pool.query<{ ledger: string; analytics: string; origins: string[] }>(
      `SELECT (SELECT sum(amount)::text FROM credits_transactions WHERE fusillade_batch_id = $1) AS ledger,
              (SELECT sum(total_cost)::text FROM http_analytics WHERE fusillade_batch_id = $1) AS analytics,
              (SELECT array_agg(DISTINCT request_origin) FROM http_analytics WHERE fusillade_batch_id = $1) AS origins`,
      [uuid],
    );
    expect(Number(sums.rows[0]!.ledger)).toBeCloseTo(0.006, 10);
    expect(sums.rows[0]!.ledger).toBe(sums.rows[0]!.analytics);
    expect(sums.rows[0]!.origins).toEqual(["fusillade"]);

    // The stored-responses view shows the results, with tokens and cost from their usage rows;
    // the Responses API does not serve them (they are not response objects).
    const stored = await jsonWith<{ data: { id: string; batch_id: string | null; total_cost: string | null; response_status: number }[] }>(
      await adminApi("GET", `/batches/requests?limit=1000&member_id=${userId}`, env.ADMIN_TOKEN),
    );
    const rows = stored.data.filter((r) => r.batch_id === created.id);
    expect(rows).toHaveLength(40);
    expect(rows.every((r) => r.response_status === 200 && Number(r.total_cost) === 0.00015)).toBe(true);
    await expectError(await api("GET", `/responses/${rows[0]!.id}`, key), 404, "not_found");

    // Redelivery of every request message: no upstream call repeated, every message acked.
    const messages = lines.map((_, i) => ({ id: `re-${i}`, timestamp: new Date(), attempts: 2, body: { kind: "batch_request", v: 1, batch_id: uuid, custom_id: `req-${i}` } }));
    const control = ["batch_start", "batch_finalize", "batch_check"].map((kind) => ({ id: `re-${kind}`, timestamp: new Date(), attempts: 2, body: { kind, v: 1, batch_id: uuid } }));
    const batch = createMessageBatch("tollgate-batch", [...messages, ...messages.slice(0, 5), ...control]);
    const ctx = createExecutionContext();
    await gateway.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toHaveLength(48);
    expect(result.retryMessages).toHaveLength(0);
    expect(await upstreamCount(marker)).toBe(40);
    // …and the batch, its files and its charges are as they were.
    const again = (await (await api("GET", `/batches/${created.id}`, key)).json()) as Batch;
    expect(again).toMatchObject({ status: "completed", output_file_id: done.output_file_id, request_counts: { total: 40, completed: 40, failed: 0 } });
    expect(await contentLines(again.output_file_id)).toHaveLength(40);
    const charges = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM credits_transactions WHERE fusillade_batch_id = $1", [uuid]);
    expect(charges.rows[0]!.n).toBe(40);
  });

  it("puts failing requests in the error file, uncharged", async () => {
    const marker = `f-${crypto.randomUUID()}`;
    const lines = [...Array.from({ length: 6 }, (_, i) => line(`ok-${i}`, model.alias, marker)), ...Array.from({ length: 3 }, (_, i) => line(`bad-${i}`, failing.alias, marker))];
    const created = await createBatch(lines);
    const done = await waitFor(created.id, (b) => b.status === "completed");
    expect(done.request_counts).toEqual({ total: 9, completed: 6, failed: 3 });
    expect((await contentLines(done.output_file_id)).map((l) => l.custom_id).sort()).toEqual(["ok-0", "ok-1", "ok-2", "ok-3", "ok-4", "ok-5"]);
    const errors = await contentLines(done.error_file_id);
    expect(errors.map((l) => l.custom_id).sort()).toEqual(["bad-0", "bad-1", "bad-2"]);
    expect(errors.every((l) => l.response?.status_code === 500)).toBe(true);
    // Retried (BATCH_MAX_ATTEMPTS = 2) before giving up.
    expect(await upstreamCount(marker)).toBe(6 + 3 * 2);

    const uuid = batchRowId(created.id)!;
    const usage = await usageFor(uuid, 6 + 3 * 2);
    // Failed attempts keep ids of their own: none takes the id a later success would be charged under.
    expect(new Set(usage.map((m) => m.event_id)).size).toBe(usage.length);
    const client = await pool.connect();
    try {
      await writeUsageBatch(client, usage);
    } finally {
      client.release();
    }
    const charged = await pool.query<{ n: string }>("SELECT count(*)::text AS n FROM credits_transactions WHERE fusillade_batch_id = $1", [uuid]);
    expect(charged.rows[0]!.n).toBe("6");
  });

  it("a request run again after its runner died mid-call is charged once", async () => {
    // The first run claims the request and calls the upstream (300 ms). While it waits, its lease is
    // made to lapse and its claim taken away: to Postgres that is a runner that died after calling
    // the upstream, before recording anything (its record matches no row). Redelivery runs it again.
    const marker = `d-${crypto.randomUUID()}`;
    const created = await createBatch([line("d-0", waiting.alias, marker)]);
    const uuid = batchRowId(created.id)!;
    const deadline = Date.now() + 10_000;
    let lapsed = 0;
    while (lapsed === 0 && Date.now() < deadline) {
      ({ rowCount: lapsed } = (await pool.query(
        "UPDATE batch_requests SET claim = gen_random_uuid(), lease_until = now() - interval '1 second' WHERE batch_id = $1 AND state = 'running'",
        [uuid],
      )) as { rowCount: number });
      if (lapsed === 0) await sleep(10);
    }
    expect(lapsed, "the first run was not caught in its upstream call").toBe(1);
    // The first run's answer arrives and its record finds nothing to write.
    await usageFor(uuid, 1);
    await sleep(100);
    const redelivered = createMessageBatch("tollgate-batch", [{ id: "dead-0", timestamp: new Date(), attempts: 2, body: { kind: "batch_request", v: 1, batch_id: uuid, custom_id: "d-0" } }]);
    const ctx = createExecutionContext();
    await gateway.queue(redelivered, env, ctx);
    await getQueueResult(redelivered, ctx);

    const done = await waitFor(created.id, (b) => b.status === "completed");
    expect(done.request_counts).toEqual({ total: 1, completed: 1, failed: 0 });
    // The upstream was called twice (nothing can take back a call a dead runner made)…
    expect(await upstreamCount(marker)).toBe(2);
    const usage = await usageFor(uuid, 2);
    expect(usage).toHaveLength(2);
    // …but both answers are recorded under the batch request's id, so the ledger charges one.
    const { rows: req } = await pool.query<{ request_id: string }>("SELECT request_id::text FROM batch_requests WHERE batch_id = $1", [uuid]);
    expect(usage.map((m) => m.event_id)).toEqual([req[0]!.request_id, req[0]!.request_id]);
    const client = await pool.connect();
    try {
      await writeUsageBatch(client, usage);
    } finally {
      client.release();
    }
    const charges = await pool.query<{ amount: string }>("SELECT amount::text AS amount FROM credits_transactions WHERE fusillade_batch_id = $1", [uuid]);
    expect(charges.rows.map((r) => Number(r.amount))).toEqual([0.00015]);
    expect((await contentLines(done.output_file_id)).map((l) => l.custom_id)).toEqual(["d-0"]);
  });

  it("a key's rate limit slows a batch down but fails none of its requests", async () => {
    const limitedUser = await createUser(pool);
    await grantCredits(pool, limitedUser, "10");
    const limited = await createKey(pool, limitedUser);
    await pool.query("UPDATE api_keys SET requests_per_second = 4, burst_size = 2 WHERE id = $1", [limited.id]);
    const marker = `r-${crypto.randomUUID()}`;
    const text = Array.from({ length: 8 }, (_, i) => line(`rl-${i}`, model.alias, marker)).join("\n");
    const file = (await (await upload(text, limited.key)).json()) as { id: string };
    const created = (await (await api("POST", "/batches", limited.key, { input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" })).json()) as Batch;
    const deadline = Date.now() + 15_000;
    let done = created;
    while (done.status !== "completed" && Date.now() < deadline) {
      await sleep(200);
      done = (await (await api("GET", `/batches/${created.id}`, limited.key)).json()) as Batch;
    }
    expect(done.status).toBe("completed");
    expect(done.request_counts).toEqual({ total: 8, completed: 8, failed: 0 });
    expect(await upstreamCount(marker)).toBe(8);
    // The limit did refuse some runs (recorded as 429s, never charged), which were sent again.
    expect(received.some((m) => m.batch?.batch_id === batchRowId(created.id) && m.status_code === 429)).toBe(true);
  });

  it("cancel stops new requests at once and the counts add up", async () => {
    const marker = `c-${crypto.randomUUID()}`;
    const created = await createBatch(Array.from({ length: 60 }, (_, i) => line(`c-${i}`, waiting.alias, marker)));
    await waitFor(created.id, (b) => b.request_counts.completed > 0, 10_000);
    const cancelling = (await (await api("POST", `/batches/${created.id}/cancel`, key)).json()) as Batch;
    expect(cancelling.status).toBe("cancelling");
    const done = await waitFor(created.id, (b) => b.status === "cancelled");
    expect(done.status).toBe("cancelled");
    const calls = await upstreamCount(marker);
    expect(done.request_counts.total).toBe(60);
    expect(done.request_counts.completed + done.request_counts.failed).toBe(calls);
    expect(calls).toBeLessThan(60);
    expect(await contentLines(done.output_file_id)).toHaveLength(done.request_counts.completed);
    await sleep(500);
    expect(await upstreamCount(marker)).toBe(calls);
    await expectError(await api("POST", `/batches/${created.id}/cancel`, otherKey), 404, "not_found");

    // BATCH_MODEL_CONCURRENCY (4 here): never more of the model's requests in flight at once.
    // A row's started_at is the moment its first claim was granted (after the model's lock, not
    // when the claiming statement began waiting for it) and finished_at its record's, so [started_at,
    // finished_at] is one run only for a request that a run recorded on its first attempt; a
    // retried request, or one the cancel closed after a failed attempt, spans time it was not
    // running (a loaded machine's upstream timeouts make those) and would be counted as in flight.
    const runs = `FROM batch_requests WHERE batch_id = $1 AND state IN ('completed', 'failed') AND attempts = 1 AND started_at IS NOT NULL`;
    const { rows } = await pool.query<{ peak: number }>(
      `SELECT max(n)::int AS peak FROM (
         SELECT sum(d) OVER (ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS n FROM (
           SELECT started_at AS t, 1 AS d ${runs}
           UNION ALL SELECT finished_at, -1 ${runs}) e) x`,
      [batchRowId(created.id)],
    );
    expect(rows[0]!.peak).toBeGreaterThan(0);
    expect(rows[0]!.peak).toBeLessThanOrEqual(4);
  });

  it("expires at the end of a short window: unfinished requests become batch_expired errors", async () => {
    const marker = `e-${crypto.randomUUID()}`;
    // Two quick answers; the rest hang past UPSTREAM_TIMEOUT_MS (2 s) twice, beyond the 3 s window.
    const lines = [line("e-ok-0", model.alias, marker), line("e-ok-1", model.alias, marker), ...Array.from({ length: 6 }, (_, i) => line(`e-${i}`, hanging.alias, marker))];
    const created = await createBatch(lines, "3s");
    const done = await waitFor(created.id, (b) => b.status === "expired");
    expect(done.status).toBe("expired");
    expect(done.request_counts).toEqual({ total: 8, completed: 2, failed: 6 });
    const errors = await contentLines(done.error_file_id);
    expect(errors.map((l) => l.custom_id).sort()).toEqual(["e-0", "e-1", "e-2", "e-3", "e-4", "e-5"]);
    expect(errors.every((l) => l.error?.code === "batch_expired" && l.response === null)).toBe(true);
    expect((await contentLines(done.output_file_id)).map((l) => l.custom_id).sort()).toEqual(["e-ok-0", "e-ok-1"]);
  });

  it("validates the create body and lists with a cursor", async () => {
    await expectError(await api("POST", "/batches", key, { input_file_id: "file-0", endpoint: "/v1/chat/completions", completion_window: "24h" }), 404, "not_found");
    const res = await upload(line("z", model.alias, "v"));
    const file = (await res.json()) as { id: string };
    expect((await expectError(await api("POST", "/batches", key, { input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "2h" }), 400, "invalid_request_error")).param).toBe("completion_window");
    expect((await expectError(await api("POST", "/batches", key, { input_file_id: file.id, endpoint: "/v1/embeddings", completion_window: "24h" }), 400, "invalid_request_error")).param).toBe("input_file_id");
    const first = (await (await api("GET", "/batches?limit=2", key)).json()) as { data: Batch[]; has_more: boolean; last_id: string };
    expect(first.data).toHaveLength(2);
    expect(first.has_more).toBe(true);
    const next = (await (await api("GET", `/batches?limit=2&after=${first.last_id}`, key)).json()) as { data: Batch[] };
    expect(next.data[0]!.id).not.toBe(first.data[0]!.id);
    expect(next.data.map((b) => b.id)).not.toContain(first.last_id);
  });

  it("works with the official openai client unchanged", async () => {
    const client = new OpenAI({ apiKey: key, baseURL: "https://gateway.test/ai/v1", maxRetries: 0, fetch: (input, init) => SELF.fetch(input, init) });
    const marker = `o-${crypto.randomUUID()}`;
    const text = Array.from({ length: 5 }, (_, i) => line(`o-${i}`, model.alias, marker)).join("\n");
    const file = await client.files.create({ file: await toFile(new TextEncoder().encode(text), "batch.jsonl"), purpose: "batch" });
    expect(file.purpose).toBe("batch");
    expect((await client.files.retrieve(file.id)).bytes).toBe(text.length);
    const created = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    let batch = created;
    for (let i = 0; i < 150 && batch.status !== "completed"; i++) {
      await sleep(100);
      batch = await client.batches.retrieve(created.id);
    }
    expect(batch.status).toBe("completed");
    expect(batch.request_counts).toEqual({ total: 5, completed: 5, failed: 0 });
    const output = await (await client.files.content(batch.output_file_id!)).text();
    expect(output.trim().split("\n")).toHaveLength(5);
    const listed = [];
    for await (const b of client.batches.list({ limit: 2 })) listed.push(b.id);
    expect(listed).toContain(created.id);
    await expect(client.batches.retrieve("batch_0123456789abcdef0123456789abcdef")).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});

describe("admin views of batches", () => {
  it("managers see every batch, others only their own; /batches/requests is not shadowed", async () => {
    const created = await createBatch([line("adm", model.alias, `a-${crypto.randomUUID()}`)]);
    const all = await jsonWith<{ data: { id: string; user_id: string }[]; total_count: number }>(await adminApi("GET", "/batches?limit=1000", env.ADMIN_TOKEN));
    expect(all.data.find((b) => b.id === created.id)?.user_id).toBe(userId);
    const detail = await jsonWith<{ id: string; request_counts: { total: number }; request_states: Record<string, number> }>(await adminApi("GET", `/batches/${created.id}`, env.ADMIN_TOKEN));
    expect(detail.id).toBe(created.id);

    const stranger = await adminPrincipal();
    const theirs = await jsonWith<{ data: { id: string }[] }>(await adminApi("GET", "/batches", stranger.admin));
    expect(theirs.data.map((b) => b.id)).not.toContain(created.id);
    await expectError(await adminApi("GET", `/batches/${created.id}`, stranger.admin), 404, "not_found");
    await expectError(await adminApi("GET", "/batches/not-a-batch", env.ADMIN_TOKEN), 404, "not_found");
    expect((await adminApi("GET", "/batches/requests", env.ADMIN_TOKEN)).status).toBe(200);
  });
});

describe("retention of batch rows", () => {
  const rowsOf = async (id: string) =>
    (await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM batch_requests WHERE batch_id = $1", [batchRowId(id)])).rows[0]!.n;

  it("a finalize prunes the request rows of batches ended over BATCH_RETENTION_DAYS ago; live and recent batches keep theirs, files stay readable", async () => {
    const marker = `ret-${crypto.randomUUID()}`;
    const old = await waitFor((await createBatch([line("o-1", model.alias, marker), line("o-2", model.alias, marker)])).id, (b) => b.status === "completed");
    const live = await waitFor((await createBatch([line("l-1", model.alias, marker)])).id, (b) => b.status === "completed");
    expect([old.status, live.status]).toEqual(["completed", "completed"]);
    expect([await rowsOf(old.id), await rowsOf(live.id)]).toEqual([2, 1]);
    // One ended 8 days ago (past the default 7); one still running after 30 days (never pruned).
    await pool.query("UPDATE batches SET completed_at = now() - interval '8 days' WHERE id = $1", [batchRowId(old.id)]);
    await pool.query("UPDATE batches SET status = 'in_progress', completed_at = NULL, in_progress_at = now() - interval '30 days' WHERE id = $1", [batchRowId(live.id)]);
    try {
      // Another batch's finalize does the pruning.
      const recent = await waitFor((await createBatch([line("r-1", model.alias, marker)])).id, (b) => b.status === "completed");
      expect(recent.status).toBe("completed");
      expect(await rowsOf(old.id)).toBe(0);
      expect(await rowsOf(live.id)).toBe(1);
      expect(await rowsOf(recent.id)).toBe(1);
    } finally {
      await pool.query("UPDATE batches SET status = 'completed', completed_at = now() WHERE id = $1", [batchRowId(live.id)]);
    }
    // The pruned batch is unchanged to its owner: counts and output file.
    const after = (await (await api("GET", `/batches/${old.id}`, key)).json()) as Batch;
    expect(after).toMatchObject({ status: "completed", request_counts: { total: 2, completed: 2, failed: 0 }, output_file_id: old.output_file_id });
    expect((await contentLines(after.output_file_id)).map((l) => l.custom_id).sort()).toEqual(["o-1", "o-2"]);
  });
});
