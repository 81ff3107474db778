/**
 * The gateway inside workerd, against a real Postgres through the Neon driver and the mock
 * upstream: what a client receives, and exactly what the upstream is sent.
 */
import { env, SELF } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool, DbSettingsSchema, type Pool } from "../../../shared/db.ts";
import { encryptSecret, importSecretKey } from "../../../shared/secret-box.ts";
import { createKey, createModel, createUser, type ModelFixture } from "../../support/db-fixtures.ts";

interface Recorded {
  path: string;
  headers: Record<string, string>;
  body: { model?: string; [k: string]: unknown };
}

let pool: Pool;
let key: string;
let model: ModelFixture;

const mockBase = () => `${env.MOCK_UPSTREAM_URL}/v1`;

async function upstreamRequests(): Promise<Recorded[]> {
  return (await (await fetch(`${env.MOCK_UPSTREAM_URL}/__mock/requests`)).json()) as Recorded[];
}

function chat(body: unknown, headers: Record<string, string> = {}, k: string | null = key): Promise<Response> {
  return SELF.fetch("https://gateway.test/ai/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", ...(k ? { authorization: `Bearer ${k}` } : {}), ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function expectError(res: Response, status: number, code: string): Promise<{ message: string; param: string | null }> {
  expect(res.status).toBe(status);
  const body = (await res.json()) as { error: { message: string; type: string; code: string; param: string | null } };
  expect(body.error.code).toBe(code);
  expect(typeof body.error.type).toBe("string");
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(body.error).toHaveProperty("param");
  return body.error;
}

beforeAll(async () => {
  pool = createPool(DbSettingsSchema.parse(env));
  const userId = await createUser(pool);
  key = (await createKey(pool, userId)).key;
  model = await createModel(pool, { url: mockBase(), modelName: "mock-gpt" });
});

afterAll(async () => {
  await pool?.end();
});

describe("GET /healthz", () => {
  it("answers ok", async () => {
    const res = await SELF.fetch("https://gateway.test/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });
});

describe("POST /ai/v1/chat/completions (non-streaming)", () => {
  it("forwards to the upstream under its own model name and answers under the alias", async () => {
    const res = await chat(
      { model: model.alias, messages: [{ role: "user", content: "hi" }] },
      { cookie: "session=abc", "x-api-key": "client-provider-key", traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tollgate-event-id")).toMatch(/^[0-9a-f-]{36}$/);
    const body = (await res.json()) as { model: string; choices: { message: { content: string } }[]; usage: { total_tokens: number } };
    expect(body.model).toBe(model.alias);
    expect(body.choices[0]!.message.content).toBe("Hello word1 word2");
    expect(body.usage.total_tokens).toBe(21);

    const sent = (await upstreamRequests()).filter((r) => r.path === "/v1/chat/completions").at(-1)!;
    expect(sent.body.model).toBe("mock-gpt");
    expect(sent.body.messages).toEqual([{ role: "user", content: "hi" }]);
    // The client's credentials and cookies never reach the upstream; trace context does.
    expect(sent.headers.authorization).toBeUndefined();
    expect(sent.headers.cookie).toBeUndefined();
    expect(sent.headers["x-api-key"]).toBeUndefined();
    expect(JSON.stringify(sent.headers)).not.toContain(key);
    expect(sent.headers.traceparent).toBe("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  });

  it("applies the endpoint's own auth header, decrypted from its stored ciphertext", async () => {
    const sealed = await encryptSecret(await importSecretKey(env.ENCRYPTION_KEY), "upstream-secret-42");
    const m = await createModel(pool, { url: mockBase(), apiKeyEncrypted: sealed, authHeaderName: "api-key", authHeaderPrefix: "" });
    const res = await chat({ model: m.alias, messages: [] });
    expect(res.status).toBe(200);
    const sent = (await upstreamRequests()).at(-1)!;
    expect(sent.headers["api-key"]).toBe("upstream-secret-42");
    expect(sent.headers.authorization).toBeUndefined();
  });
});

describe("errors use the OpenAI envelope", () => {
  it("401 without a key, with an unknown key, and with a deleted key", async () => {
    await expectError(await chat({ model: model.alias }, {}, null), 401, "invalid_api_key");
    await expectError(await chat({ model: model.alias }, {}, "tg-" + "x".repeat(43)), 401, "invalid_api_key");
    const userId = await createUser(pool);
    const doomed = await createKey(pool, userId);
    expect((await chat({ model: model.alias, messages: [] }, {}, doomed.key)).status).toBe(200);
    await pool.query("UPDATE api_keys SET is_deleted = true, deleted_at = now() WHERE id = $1", [doomed.id]);
    await expectError(await chat({ model: model.alias }, {}, doomed.key), 401, "invalid_api_key");
  });

  it("403 for a platform key on inference", async () => {
    const platform = await createKey(pool, await createUser(pool), "platform");
    await expectError(await chat({ model: model.alias }, {}, platform.key), 403, "permission_denied");
  });

  it("404 for an unknown model, 403 for a model the key's owner has no group for", async () => {
    const err = await expectError(await chat({ model: "no-such-model" }), 404, "model_not_found");
    expect(err.param).toBe("model");
    const closed = await createModel(pool, { url: mockBase(), open: false });
    await expectError(await chat({ model: closed.alias }), 403, "model_access_denied");
  });

  it("400 for malformed JSON, a non-object body, or a missing model", async () => {
    await expectError(await chat("{not json"), 400, "invalid_request_error");
    await expectError(await chat("[1,2]"), 400, "invalid_request_error");
    const err = await expectError(await chat({ messages: [] }), 400, "invalid_request_error");
    expect(err.param).toBe("model");
  });

  it("413 for a body over the limit", async () => {
    const big = JSON.stringify({ model: model.alias, messages: [{ role: "user", content: "x".repeat(Number(env.MAX_BODY_BYTES)) }] });
    await expectError(await chat(big), 413, "request_too_large");
  });

  it("502 when the upstream cannot be reached or drops the connection", async () => {
    const unreachable = await createModel(pool, { url: "http://127.0.0.1:9/v1" });
    const err = await expectError(await chat({ model: unreachable.alias, messages: [] }), 502, "upstream_error");
    expect(err.message).not.toContain("127.0.0.1");
    const dropping = await createModel(pool, { url: mockBase(), modelName: "mock+disconnect" });
    await expectError(await chat({ model: dropping.alias, messages: [] }), 502, "upstream_error");
  });

  it("upstream errors pass through with their status", async () => {
    const failing = await createModel(pool, { url: mockBase(), modelName: "mock+http_500" });
    const res = await chat({ model: failing.alias, messages: [] });
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("mock_error");
  });

  it("404 in the envelope for unknown routes", async () => {
    const res = await SELF.fetch("https://gateway.test/ai/v1/nope", { method: "POST" });
    await expectError(res, 404, "not_found");
  });
});
