/**
 * End to end: the stack `npm start` runs (same code path: startStack), both workers under
 * `wrangler dev` sharing the local queue, driven by the official openai client, unchanged.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../../dev/stack.ts";
import { createTestDatabase, type TestDatabase } from "../support/test-database.ts";

let stack: Stack;
let db: TestDatabase | undefined;
let stateDir: string;
let client: pg.Client;
const wranglerLog: string[] = [];

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "tollgate-e2e-"));
  // With DATABASE_URL: a fresh database on that server. Without: startStack's own embedded
  // Postgres, in memory — exactly what `npm start` does, minus the data folder.
  db = process.env.DATABASE_URL ? await createTestDatabase("e2e") : undefined;
  stack = await startStack({
    databaseUrl: db?.url,
    port: 0,
    stateDir,
    log: () => {},
    wranglerOutput: (line) => wranglerLog.push(line),
  });
  client = new pg.Client({ connectionString: stack.databaseUrl });
  await client.connect();
});

afterAll(async () => {
  await client?.end();
  await stack?.stop();
  await db?.drop();
  rmSync(stateDir, { recursive: true, force: true });
});

async function waitForRow(eventId: string, timeoutMs = 10_000) {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const { rows } = await client.query("SELECT * FROM http_analytics WHERE event_id = $1", [eventId]);
    if (rows[0]) return { row: rows[0] as Record<string, unknown>, waitedMs: Date.now() - started };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no http_analytics row for ${eventId} after ${timeoutMs} ms`);
}

describe("the thin slice, end to end", () => {
  it("a chat completion through the openai client reaches the upstream and lands in http_analytics", async () => {
    const openai = new OpenAI({ baseURL: `${stack.gatewayUrl}/ai/v1`, apiKey: stack.demoKey, maxRetries: 0 });
    const { data, response } = await openai.chat.completions
      .create({ model: stack.modelAlias, messages: [{ role: "user", content: "Hello" }] })
      .withResponse();
    expect(data.model).toBe(stack.modelAlias);
    expect(data.choices[0]?.message.content).toBe("Hello word1 word2");
    expect(data.usage?.prompt_tokens).toBe(12);

    const eventId = response.headers.get("x-tollgate-event-id")!;
    expect(eventId).toMatch(/^[0-9a-f-]{36}$/);
    const { row } = await waitForRow(eventId);
    expect(row).toMatchObject({
      model: stack.modelAlias,
      served_model: "mock-gpt",
      status_code: 200,
      prompt_tokens: "12",
      completion_tokens: "9",
      total_tokens: "21",
      access_source: "api_key",
      api_key_id: stack.demoKeyId,
      user_id: stack.demoUserId,
      response_type: "json",
      finish_reason: "stop",
    });
    // The secret never reaches the database.
    const { rows } = await client.query("SELECT count(*)::int AS n FROM http_analytics WHERE row_to_json(http_analytics)::text LIKE $1", [`%${stack.demoKey}%`]);
    expect(rows[0].n).toBe(0);
  });

  it("a streamed completion through the openai client is metered from the usage the gateway asked for", async () => {
    const openai = new OpenAI({ baseURL: `${stack.gatewayUrl}/ai/v1`, apiKey: stack.demoKey, maxRetries: 0 });
    const { data: stream, response } = await openai.chat.completions
      .create({ model: stack.modelAlias, messages: [{ role: "user", content: "Hello" }], stream: true })
      .withResponse();
    let content = "";
    let sawUsageChunk = false;
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta.content ?? "";
      if (chunk.usage) sawUsageChunk = true;
    }
    expect(content).toBe("Hello word1 word2");
    expect(sawUsageChunk).toBe(false); // the client did not ask for usage
    const { row } = await waitForRow(response.headers.get("x-tollgate-event-id")!);
    expect(row).toMatchObject({ response_type: "stream", prompt_tokens: "12", completion_tokens: "9", truncated: false, finish_reason: "stop" });
  });

  it("a wrong key is refused with the SDK's AuthenticationError and still recorded", async () => {
    const openai = new OpenAI({ baseURL: `${stack.gatewayUrl}/ai/v1`, apiKey: "tg-" + "z".repeat(43), maxRetries: 0 });
    const err = await openai.chat.completions.create({ model: stack.modelAlias, messages: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    const apiErr = err as InstanceType<typeof OpenAI.AuthenticationError>;
    expect(apiErr.status).toBe(401);
    expect(apiErr.code).toBe("invalid_api_key");
    const { row } = await waitForRow(apiErr.headers.get("x-tollgate-event-id")!);
    expect(row).toMatchObject({ status_code: 401, access_source: "unknown_api_key", user_id: null, api_key_id: null });
  });

  it("an unknown model is a NotFoundError naming the model", async () => {
    const openai = new OpenAI({ baseURL: `${stack.gatewayUrl}/ai/v1`, apiKey: stack.demoKey, maxRetries: 0 });
    const err = await openai.chat.completions.create({ model: "no-such-model", messages: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as Error).message).toContain("no-such-model");
  });

  it("a charge that exhausts the balance is refused soon after the consumer commits it; a top-up serves again", async () => {
    const admin = (method: string, path: string, body?: unknown) =>
      fetch(`${stack.gatewayUrl}/admin/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${stack.adminToken}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }).then(async (res) => {
        const json = (await res.json()) as Record<string, unknown>;
        expect(res.status, JSON.stringify(json)).toBeLessThan(300);
        return json;
      });
    const name = `e2e-${crypto.randomUUID().slice(0, 8)}`;
    const user = await admin("POST", "/users", { username: name, email: `${name}@example.com` });
    const userId = user.id as string;
    const { key } = (await admin("POST", `/users/${userId}/api-keys`, { name: "e2e", purpose: "realtime" })) as { key: string };
    // Half of what one mock request (12 prompt + 9 completion tokens) costs at the demo tariff.
    const { rows: prices } = await client.query<{ cost: string }>(
      `SELECT ((12 * t.input_price_per_token + 9 * t.output_price_per_token) / 2)::text AS cost
         FROM model_tariffs t JOIN deployed_models m ON m.id = t.deployed_model_id
        WHERE m.alias = $1 AND t.api_key_purpose = 'realtime' AND t.valid_until IS NULL`,
      [stack.modelAlias],
    );
    await admin("POST", "/transactions", { user_id: userId, transaction_type: "admin_grant", amount: prices[0]!.cost });

    const chat = () =>
      fetch(`${stack.gatewayUrl}/ai/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ model: stack.modelAlias, messages: [{ role: "user", content: "Hello" }] }),
      });
    const first = await chat();
    await first.text();
    expect(first.status).toBe(200);
    const eventId = first.headers.get("x-tollgate-event-id")!;

    // The moment the consumer's charge is visible in the ledger (committed).
    let committedAt = 0;
    for (let i = 0; i < 400 && !committedAt; i++) {
      const { rows } = await client.query("SELECT 1 FROM credits_transactions WHERE source_id = $1", [`usage:${eventId}`]);
      if (rows.length > 0) committedAt = Date.now();
      else await new Promise((r) => setTimeout(r, 25));
    }
    expect(committedAt).toBeGreaterThan(0);
    const untilStatus = async (status: number, since: number) => {
      for (;;) {
        const res = await chat();
        await res.text();
        if (res.status === status) return Date.now() - since;
        if (Date.now() - since > 5000) throw new Error(`still ${res.status} after 5 s`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const refusedAfter = await untilStatus(402, committedAt);
    const toppedUpAt = Date.now();
    await admin("POST", "/transactions", { user_id: userId, transaction_type: "admin_grant", amount: "1" });
    const servedAfter = await untilStatus(200, toppedUpAt);
    console.log(`depletion: 402 ${refusedAfter} ms after the charge committed; 200 again ${servedAfter} ms after the top-up`);
    expect(refusedAfter).toBeLessThan(5000);
    expect(servedAfter).toBeLessThan(5000);
    // The consumer reported the crossing once (and the top-up, made by the admin API, once).
    await new Promise((r) => setTimeout(r, 500));
    expect(wranglerLog.filter((l) => l.includes(`balance depleted for user ${userId}`))).toHaveLength(1);
  });

  it("no secret appears in the workers' log output", () => {
    const log = wranglerLog.join("\n");
    expect(log).not.toContain(stack.demoKey);
    expect(log).not.toContain(stack.adminToken);
  });
});
