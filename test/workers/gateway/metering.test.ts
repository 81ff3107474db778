/**
 * Nothing served goes unbilled (#14 item 3): when the upstream's usage report is missing or
 * invalid, the gateway counts the tokens itself (prompt with the model's tokenizer, completion
 * from the text it relayed) and says so (`usage_source: "estimated"`); what it enqueues is always
 * storable; a control character in the alias is a 404, never a database error.
 */
import { env } from "cloudflare:test";
import { countTokens } from "gpt-tokenizer/encoding/cl100k_base";
import { beforeAll, describe, expect, it } from "vitest";
import { UsageMessageSchema } from "../../../shared/usage-message.ts";
import { createKey, createModel, createTariff, createUser, grantCredits, type ModelFixture } from "../../support/db-fixtures.ts";
import { useTestPool } from "../test-pool.ts";
import { api, ok } from "./admin-helpers.ts";
import { expectError, mockBase, post, sleep, upstreamRequest, usageMessageFor } from "./helpers.ts";

const pool = useTestPool();
let key: string;
const models = new Map<string, ModelFixture>();

/** A model whose upstream name carries the mock's mode (see dev/mock-upstream.ts). */
async function modelWith(mode: string): Promise<ModelFixture> {
  let m = models.get(mode);
  if (!m) {
    m = await createModel(pool, { url: mockBase(), modelName: `mock-gpt+${mode}` });
    models.set(mode, m);
  }
  return m;
}

beforeAll(async () => {
  key = (await createKey(pool, await createUser(pool))).key;
});

const PROMPT = "Count the words in this sentence, please.";
const REPLY = "Hello word1 word2"; // the mock's reply: one word per frame, three frames
const messages = [{ role: "user", content: PROMPT }];

describe("usage Tollgate counts itself", () => {
  it("a normal answer keeps the upstream's numbers, marked upstream", async () => {
    const m = await modelWith("none");
    const res = await post("/chat/completions", { model: m.alias, messages }, key);
    expect(res.status).toBe(200);
    const msg = await usageMessageFor(res);
    expect(msg.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 9 });
    expect(msg.usage_source).toBe("upstream");
  });

  for (const mode of ["nousage", "badusage", "hugeusage"]) {
    it(`${mode}: a JSON answer is counted (prompt with the built-in tokenizer, completion from the answer)`, async () => {
      const m = await modelWith(mode);
      const res = await post("/chat/completions", { model: m.alias, messages }, key);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe(REPLY);
      const msg = await usageMessageFor(res);
      expect(msg.usage_source).toBe("estimated");
      expect(msg.usage).toEqual({ prompt_tokens: countTokens(PROMPT), completion_tokens: countTokens(REPLY), reasoning_tokens: 0, total_tokens: countTokens(PROMPT) + countTokens(REPLY), cached_tokens: 0 });
    });

    it(`${mode}: a stream that ends with [DONE] is counted from the text relayed`, async () => {
      const m = await modelWith(mode);
      const res = await post("/chat/completions", { model: m.alias, messages, stream: true, stream_options: { include_usage: true } }, key);
      expect(res.status).toBe(200);
      const body = await res.text();
      expect(body).toContain("[DONE]");
      const msg = await usageMessageFor(res);
      expect(msg.usage_source).toBe("estimated");
      expect(msg.truncated).toBe(false);
      expect(msg.usage).toMatchObject({ prompt_tokens: countTokens(PROMPT), completion_tokens: countTokens(REPLY) });
    });
  }

  it("a 200 whose body is not JSON is passed through and counted whole", async () => {
    const m = await modelWith("notjson");
    const res = await post("/chat/completions", { model: m.alias, messages }, key);
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toBe("Hello, this is not JSON");
    const msg = await usageMessageFor(res);
    expect(msg.usage_source).toBe("estimated");
    expect(msg.usage).toMatchObject({ prompt_tokens: countTokens(PROMPT), completion_tokens: countTokens(body) });
  });

  it("completions and embeddings without usage are counted too (embeddings generate nothing)", async () => {
    const m = await modelWith("nousage");
    const completion = await post("/completions", { model: m.alias, prompt: PROMPT }, key);
    expect(completion.status).toBe(200);
    expect((await usageMessageFor(completion)).usage).toMatchObject({ prompt_tokens: countTokens(PROMPT), completion_tokens: countTokens(REPLY) });
    const embedding = await post("/embeddings", { model: m.alias, input: PROMPT }, key);
    expect(embedding.status).toBe(200);
    const msg = await usageMessageFor(embedding);
    expect(msg.usage_source).toBe("estimated");
    expect(msg.usage).toMatchObject({ prompt_tokens: countTokens(PROMPT), completion_tokens: 0 });
  });

  it("a model with a tokenizer service counts the prompt with it", async () => {
    const m = await createModel(pool, { url: mockBase(), modelName: "mock-gpt+nousage" });
    await pool.query("UPDATE deployed_models SET tokenizer_url = $1 WHERE alias = $2", [`${env.MOCK_UPSTREAM_URL}/tokenizer/${m.alias}`, m.alias]);
    const res = await post("/chat/completions", { model: m.alias, messages }, key);
    expect(res.status).toBe(200);
    const msg = await usageMessageFor(res);
    // The mock service counts whitespace-separated words.
    expect(msg.usage).toMatchObject({ prompt_tokens: PROMPT.split(/\s+/).length, completion_tokens: REPLY.split(/\s+/).length });
    expect(msg.usage_source).toBe("estimated");
  });
});

describe("what is enqueued is storable", () => {
  it("a NUL in the upstream's finish_reason is stripped, JSON and streamed", async () => {
    const m = await modelWith("nulfinish");
    const json = await post("/chat/completions", { model: m.alias, messages }, key);
    expect(json.status).toBe(200);
    expect((await usageMessageFor(json)).finish_reason).toBe("stop");
    const stream = await post("/chat/completions", { model: m.alias, messages, stream: true }, key);
    await stream.text();
    const msg = await usageMessageFor(stream);
    expect(msg.finish_reason).toBe("stop");
    expect(msg.usage_source).toBe("upstream");
  });

  it("a NUL in the model alias is a 404 before any query, and its record is storable", async () => {
    const m = await modelWith("none");
    const res = await post("/chat/completions", { model: `${m.alias}\u0000`, messages }, key);
    const error = await expectError(res, 404, "model_not_found");
    expect(error.param).toBe("model");
    const msg = await usageMessageFor(res);
    expect(msg.model).toBe(m.alias);
    expect(msg.access).toBe("api_key");
    expect(UsageMessageSchema.safeParse(msg).success).toBe(true);
    // Anonymous callers learn nothing from it: still a 401.
    await expectError(await post("/chat/completions", { model: "x\u0000" }, null), 401, "invalid_api_key");
  });
});

describe("honest client disconnects", () => {
  /** Streams from a slow model (20 frames, 100 ms apart), reads the first bytes, then leaves. */
  async function leaveEarly(alias: string, path = "/chat/completions") {
    const marker = crypto.randomUUID();
    const body = path === "/responses" ? { model: alias, input: marker, stream: true, store: false } : { model: alias, stream: true, messages: [{ role: "user", content: marker }] };
    const res = await post(path, body, key);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    return { res, marker, upstream: () => upstreamRequest((r) => JSON.stringify(r.body).includes(marker)) };
  }

  it("by default the upstream is cancelled at once; the prompt and what was produced are billed, flagged client_disconnected", async () => {
    const slow = await createModel(pool, { url: mockBase(), modelName: "mock-gpt+slow" });
    const { res, marker, upstream } = await leaveEarly(slow.alias);
    const msg = await usageMessageFor(res);
    expect(msg).toMatchObject({ client_disconnected: true, truncated: true, usage_source: "estimated", response_type: "stream" });
    expect(msg.usage.prompt_tokens).toBe(countTokens(marker));
    const full = countTokens(["Hello", ...Array.from({ length: 19 }, (_, i) => ` word${i + 1}`)].join(""));
    expect(msg.usage.completion_tokens).toBeLessThan(full);
    // The model server stopped: it never got to its last frame or [DONE] (it would after 2 s).
    await sleep(2_500);
    const sent = (await upstream()).response;
    expect(sent).not.toContain("[DONE]");
    expect(sent).not.toContain("word19");
  });

  it("the same through the Responses adapter", async () => {
    const slow = await createModel(pool, { url: mockBase(), modelName: "mock-chat+slow", responsesViaChat: true });
    const { res, upstream } = await leaveEarly(slow.alias, "/responses");
    const msg = await usageMessageFor(res);
    expect(msg).toMatchObject({ client_disconnected: true, truncated: true, usage_source: "estimated" });
    await sleep(2_500);
    expect((await upstream()).response).not.toContain("[DONE]");
  });

  it("a client that reads to the end is not flagged", async () => {
    const m = await modelWith("none");
    const res = await post("/chat/completions", { model: m.alias, messages, stream: true }, key);
    await res.text();
    expect(await usageMessageFor(res)).toMatchObject({ client_disconnected: false, truncated: false, usage_source: "upstream" });
  });

  it("on_client_disconnect through the admin API: cancel by default, drain settable, anything else a 400", async () => {
    const token = env.ADMIN_TOKEN;
    const ep = await ok<{ id: string }>(await api("POST", "/endpoints", token, { name: `ep-${crypto.randomUUID()}`, url: mockBase() }), 201);
    const created = await ok<{ id: string; on_client_disconnect: string }>(await api("POST", "/models", token, { model_name: "mock-gpt", alias: `m-${crypto.randomUUID()}`, hosted_on: ep.id }), 201);
    expect(created.on_client_disconnect).toBe("cancel");
    const patched = await ok<{ on_client_disconnect: string }>(await api("PATCH", `/models/${created.id}`, token, { on_client_disconnect: "drain" }));
    expect(patched.on_client_disconnect).toBe("drain");
    expect((await ok<{ on_client_disconnect: string }>(await api("GET", `/models/${created.id}`, token))).on_client_disconnect).toBe("drain");
    const bad = await expectError(await api("PATCH", `/models/${created.id}`, token, { on_client_disconnect: "ignore" }), 400, "invalid_request_error");
    expect(bad.param).toBe("on_client_disconnect");
  });
});

describe("cost back to the caller", () => {
  it("JSON answers carry usage.cost and x-tollgate-cost; the terminal usage frame of a stream carries usage.cost; the record carries gateway_cost", async () => {
    const userId = await createUser(pool);
    await grantCredits(pool, userId, "10");
    const payer = (await createKey(pool, userId)).key;
    const m = await createModel(pool, { url: mockBase() });
    await createTariff(pool, m.modelId, { purpose: "realtime", input: "0.00001", output: "0.00003" });
    // 12 prompt tokens × 0.00001 + 9 completion tokens × 0.00003 (the mock's usage)
    const expected = "0.00039";

    const json = await post("/chat/completions", { model: m.alias, messages }, payer);
    expect(json.status).toBe(200);
    expect(json.headers.get("x-tollgate-cost")).toBe(expected);
    expect(((await json.json()) as { usage: { cost: string } }).usage.cost).toBe(expected);
    expect((await usageMessageFor(json)).gateway_cost).toBe(expected);

    const stream = await post("/chat/completions", { model: m.alias, messages, stream: true, stream_options: { include_usage: true } }, payer);
    const frames = (await stream.text()).split("\n\n").filter((f) => f.startsWith("data: {"));
    const last = JSON.parse(frames[frames.length - 1]!.slice(6)) as { choices: unknown[]; usage: { cost: string; prompt_tokens: number } };
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ prompt_tokens: 12, cost: expected });
    expect((await usageMessageFor(stream)).gateway_cost).toBe(expected);

    // A free model says nothing about cost (and its stream stays byte-identical to the upstream's).
    const free = await modelWith("none");
    const freeRes = await post("/chat/completions", { model: free.alias, messages }, key);
    expect(freeRes.headers.get("x-tollgate-cost")).toBeNull();
    expect(((await freeRes.json()) as { usage: Record<string, unknown> }).usage.cost).toBeUndefined();
  });
});
