/**
 * Happy paths inside workerd (real Postgres via the Neon driver, mock upstream): what the client
 * receives, exactly what the upstream is sent, and the usage message enqueued.
 */
import { env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { encryptSecret, importSecretKey } from "../../../shared/secret-box.ts";
import { createKey, createModel, createUser, type ModelFixture } from "../../support/db-fixtures.ts";
import { useTestPool } from "../test-pool.ts";
import { expectError, mockBase, post, upstreamRequest, upstreamRequests, usageMessageFor } from "./helpers.ts";
import { received } from "./test-main.ts";

const pool = useTestPool();
let key: string;
let keyId: string;
let model: ModelFixture;

beforeAll(async () => {
  const userId = await createUser(pool);
  ({ key, id: keyId } = await createKey(pool, userId));
  model = await createModel(pool, { url: mockBase(), modelName: "mock-gpt" });
});

describe("GET /healthz", () => {
  it("answers ok", async () => {
    const res = await SELF.fetch("https://gateway.test/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });
});

describe("non-streaming inference", () => {
  it("chat: upstream gets its own model name, client gets the alias, usage is enqueued", async () => {
    const marker = crypto.randomUUID();
    const res = await post("/chat/completions", { model: model.alias, messages: [{ role: "user", content: marker }] }, key, {
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      "user-agent": "tollgate-test/1.0",
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { model: string; choices: { message: { content: string } }[]; usage: { total_tokens: number } };
    expect(body.model).toBe(model.alias);
    expect(body.choices[0]!.message.content).toBe("Hello word1 word2");
    expect(body.usage.total_tokens).toBe(21);

    const sent = await upstreamRequest((r) => JSON.stringify(r.body).includes(marker));
    expect(sent.path).toBe("/v1/chat/completions");
    expect(sent.body.model).toBe("mock-gpt");
    expect(sent.headers.traceparent).toBe("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");

    const msg = await usageMessageFor(res);
    expect(msg).toMatchObject({
      v: 1,
      access: "api_key",
      api_key_id: keyId,
      model: model.alias,
      served_model: "mock-gpt",
      status_code: 200,
      uri: "/ai/v1/chat/completions",
      usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21, reasoning_tokens: 0, cached_tokens: 0 },
      response_type: "json",
      finish_reason: "stop",
      truncated: false,
      trace_id: "0af7651916cd43dd8448eb211c80319c",
      user_agent: "tollgate-test/1.0",
      batch: null,
    });
    expect(msg.ttfb_ms).not.toBeNull();
    expect(msg.duration_ms).toBeGreaterThanOrEqual(msg.ttfb_ms!);
  });

  it("completions, embeddings and responses are forwarded and metered", async () => {
    const completion = await post("/completions", { model: model.alias, prompt: "Say hi" }, key);
    expect(completion.status).toBe(200);
    expect(((await completion.json()) as { choices: { text: string }[] }).choices[0]!.text).toBe("Hello word1 word2");
    expect((await usageMessageFor(completion)).usage.prompt_tokens).toBe(12);

    const embedding = await post("/embeddings", { model: model.alias, input: ["a", "b"] }, key);
    expect(embedding.status).toBe(200);
    const emb = (await embedding.json()) as { data: unknown[]; model: string };
    expect(emb.data).toHaveLength(2);
    expect(emb.model).toBe(model.alias);
    expect((await usageMessageFor(embedding)).usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 0, total_tokens: 12 });

    const response = await post("/responses", { model: model.alias, input: "hi" }, key);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { model: string }).model).toBe(model.alias);
    const msg = await usageMessageFor(response);
    expect(msg.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 9 });
    expect(msg.finish_reason).toBe("completed");
  });

  it("a burst of concurrent requests enqueues exactly one message each", async () => {
    const responses = await Promise.all(Array.from({ length: 40 }, () => post("/chat/completions", { model: model.alias, messages: [] }, key)));
    const messages = await Promise.all(responses.map((r) => usageMessageFor(r)));
    const ids = messages.map((m) => m.event_id);
    expect(new Set(ids).size).toBe(40);
    for (const id of ids) expect(received.filter((m) => m.event_id === id)).toHaveLength(1);
  });

  it("applies the endpoint's own auth header, decrypted from its stored ciphertext", async () => {
    const sealed = await encryptSecret(await importSecretKey(env.ENCRYPTION_KEY), "upstream-secret-42");
    const m = await createModel(pool, { url: mockBase(), apiKeyEncrypted: sealed, authHeaderName: "api-key", authHeaderPrefix: "" });
    const marker = crypto.randomUUID();
    const res = await post("/chat/completions", { model: m.alias, messages: [{ role: "user", content: marker }] }, key);
    expect(res.status).toBe(200);
    const sent = await upstreamRequest((r) => JSON.stringify(r.body).includes(marker));
    expect(sent.headers["api-key"]).toBe("upstream-secret-42");
    expect(sent.headers.authorization).toBeUndefined();
  });

  it("batch metadata headers are honoured for batch keys only", async () => {
    const batchKey = await createKey(pool, await createUser(pool), "batch");
    const createdAt = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000);
    const headers = {
      "x-fusillade-batch-id": "5b0c6a3e-4f6b-4c5a-9d7e-1a2b3c4d5e6f",
      "x-fusillade-request-id": "6c1d7b4f-5a7c-4d6b-8e8f-2b3c4d5e6f70",
      "x-fusillade-custom-id": "row-7",
      "x-fusillade-batch-completion-window": "24h",
      "x-fusillade-batch-created-at": createdAt.toISOString(),
      "x-fusillade-request-source": "api",
    };
    const batchRes = await post("/chat/completions", { model: model.alias, messages: [] }, batchKey.key, headers);
    expect((await usageMessageFor(batchRes)).batch).toEqual({
      batch_id: "5b0c6a3e-4f6b-4c5a-9d7e-1a2b3c4d5e6f",
      request_id: "6c1d7b4f-5a7c-4d6b-8e8f-2b3c4d5e6f70",
      custom_id: "row-7",
      completion_window: "24h",
      created_at: createdAt.toISOString(),
      request_source: "api",
    });
    // A realtime key cannot claim a batch's (cheaper or older) pricing.
    const realtimeRes = await post("/chat/completions", { model: model.alias, messages: [] }, key, headers);
    expect((await usageMessageFor(realtimeRes)).batch).toBeNull();
  });

  it("a batch key cannot choose an old, future or unknown tariff: 400 naming the header, nothing forwarded", async () => {
    const batchKey = await createKey(pool, await createUser(pool), "batch");
    const cases: [Record<string, string>, string][] = [
      [{ "x-fusillade-batch-created-at": "1999-01-01T00:00:00Z" }, "x-fusillade-batch-created-at"],
      // The longest default window is 24h: 25h01m ago is past it plus the hour's grace.
      [{ "x-fusillade-batch-created-at": new Date(Date.now() - 25 * 3_600_000 - 60_000).toISOString() }, "x-fusillade-batch-created-at"],
      [{ "x-fusillade-batch-created-at": new Date(Date.now() + 3_600_000).toISOString() }, "x-fusillade-batch-created-at"],
      [{ "x-fusillade-batch-created-at": "yesterday" }, "x-fusillade-batch-created-at"],
      [{ "x-fusillade-batch-completion-window": "1000d" }, "x-fusillade-batch-completion-window"],
    ];
    for (const [headers, header] of cases) {
      const marker = crypto.randomUUID();
      const res = await post("/chat/completions", { model: model.alias, messages: [{ role: "user", content: marker }] }, batchKey.key, headers);
      const error = await expectError(res, 400, "invalid_request_error");
      expect(error.param).toBe(header);
      expect(error.message).toContain(header);
      expect((await upstreamRequests()).some((r) => JSON.stringify(r.body).includes(marker))).toBe(false);
    }
    // Within the window plus its hour: accepted.
    const ok = await post("/chat/completions", { model: model.alias, messages: [] }, batchKey.key, {
      "x-fusillade-batch-created-at": new Date(Date.now() - 24 * 3_600_000).toISOString(),
      "x-fusillade-batch-completion-window": "1h",
    });
    expect(ok.status).toBe(200);
    expect((await usageMessageFor(ok)).batch).toMatchObject({ completion_window: "1h" });
  });

  it("GET /ai/v1/models lists the models this key may use", async () => {
    const closed = await createModel(pool, { url: mockBase(), open: false });
    const res = await SELF.fetch("https://gateway.test/ai/v1/models", { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    const list = (await res.json()) as { object: string; data: { id: string; object: string; owned_by: string; created: number }[] };
    expect(list.object).toBe("list");
    const ids = list.data.map((m) => m.id);
    expect(ids).toContain(model.alias);
    expect(ids).not.toContain(closed.alias);
    expect(list.data[0]).toMatchObject({ object: "model", owned_by: "tollgate" });
  });
});
