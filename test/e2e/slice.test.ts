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

  it("no secret appears in the workers' log output", () => {
    const log = wranglerLog.join("\n");
    expect(log).not.toContain(stack.demoKey);
    expect(log).not.toContain(stack.adminToken);
  });
});
