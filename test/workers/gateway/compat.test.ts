/**
 * Client compatibility (#15): the unmodified official `openai` client for Node, driving the gateway
 * inside workerd the way a new user's first script does — against the bundled mock upstream.
 */
import { env, SELF } from "cloudflare:test";
import OpenAI from "openai";
import { beforeAll, describe, expect, it } from "vitest";
import { writeResponseBatch } from "../../../workers/consumer/src/response-writer.ts";
import { newApp } from "../../../workers/gateway/src/app.ts";
import { createKey, createModel, createUser, type ModelFixture } from "../../support/db-fixtures.ts";
import { useTestPool } from "../test-pool.ts";
import { expectError, mockBase, persistResponse, post, responseMessageFor, sleep, upstreamRequest, usageMessageFor } from "./helpers.ts";

const pool = useTestPool();
let client: OpenAI;
let key: string;
let model: ModelFixture;

/** The mock upstream's embedding for every input (dev/mock-upstream.ts `EMBEDDING`). */
const MOCK_EMBEDDING = [0.125, -0.25, 0.5, 0.75, -1, 0.0625, 0.375, -0.5];

const WEATHER_CHAT_TOOL = {
  type: "function" as const,
  function: { name: "get_weather", description: "The weather in a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } },
};
const WEATHER_TOOL = { type: "function" as const, name: "get_weather", description: "The weather in a city", parameters: WEATHER_CHAT_TOOL.function.parameters, strict: false };

function sdk(apiKey: string): OpenAI {
  return new OpenAI({ apiKey, baseURL: "https://gateway.test/ai/v1", maxRetries: 0, fetch: (input, init) => SELF.fetch(input, init) });
}

beforeAll(async () => {
  ({ key } = await createKey(pool, await createUser(pool)));
  model = await createModel(pool, { url: mockBase() });
  client = sdk(key);
});

describe("the mock upstream answers like the real thing (item 5)", () => {
  it("embeddings.create with the SDK's default base64 encoding decodes to the full vector; float stays float", async () => {
    const base64 = await client.embeddings.create({ model: model.alias, input: ["a", "b"] });
    expect(base64.data.map((d) => d.embedding)).toEqual([MOCK_EMBEDDING, MOCK_EMBEDDING]);
    const float = await client.embeddings.create({ model: model.alias, input: "a", encoding_format: "float" });
    expect(float.data[0]?.embedding).toEqual(MOCK_EMBEDDING);
  });

  it("responses.stream() assembles the full event sequence into the final response", async () => {
    const stream = client.responses.stream({ model: model.alias, input: "hi" });
    const types: string[] = [];
    let text = "";
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.output_text.delta") text += event.delta;
    }
    const final = await stream.finalResponse();
    expect(text).toBe("Hello word1 word2");
    expect(final.status).toBe("completed");
    expect(final.output[0]).toMatchObject({ type: "message", content: [{ type: "output_text", text: "Hello word1 word2" }] });
    expect(types[0]).toBe("response.created");
    expect(types.at(-1)).toBe("response.completed");
    for (const t of ["response.in_progress", "response.output_item.added", "response.content_part.added", "response.output_text.done", "response.content_part.done", "response.output_item.done"]) {
      expect(types).toContain(t);
    }
  });

  it("chat tool calls, JSON and streamed, and the answer after the tool's result", async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "Weather in Paris?" }];
    const json = await client.chat.completions.create({ model: model.alias, messages, tools: [WEATHER_CHAT_TOOL] });
    expect(json.choices[0]?.finish_reason).toBe("tool_calls");
    const call = json.choices[0]?.message.tool_calls?.[0];
    expect(call).toMatchObject({ type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } });

    const stream = client.chat.completions.stream({ model: model.alias, messages, tools: [WEATHER_CHAT_TOOL] });
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]?.message.tool_calls?.[0]).toMatchObject({ function: { name: "get_weather", arguments: '{"city":"Paris"}' } });

    const answer = await client.chat.completions.create({
      model: model.alias,
      tools: [WEATHER_CHAT_TOOL],
      messages: [...messages, json.choices[0]!.message, { role: "tool", tool_call_id: call!.id, content: "sunny" }],
    });
    expect(answer.choices[0]?.message.content).toBe("Hello word1 word2");
  });

  it("responses tool calls, JSON and streamed, and the answer after function_call_output", async () => {
    const json = await client.responses.create({ model: model.alias, input: "Weather in Paris?", tools: [WEATHER_TOOL] });
    const call = json.output[0];
    expect(call).toMatchObject({ type: "function_call", name: "get_weather", arguments: '{"city":"Paris"}' });

    const stream = client.responses.stream({ model: model.alias, input: "Weather in Paris?", tools: [WEATHER_TOOL] });
    let args = "";
    stream.on("response.function_call_arguments.delta", (e) => (args += e.delta));
    const final = await stream.finalResponse();
    expect(args).toBe('{"city":"Paris"}');
    expect(final.output[0]).toMatchObject({ type: "function_call", name: "get_weather", arguments: '{"city":"Paris"}' });

    if (call?.type !== "function_call") throw new Error("expected a function call");
    const answer = await client.responses.create({
      model: model.alias,
      tools: [WEATHER_TOOL],
      input: [{ role: "user", content: "Weather in Paris?" }, call, { type: "function_call_output", call_id: call.call_id, output: "sunny" }],
    });
    expect(answer.output_text).toBe("Hello word1 word2");
  });
});

describe("headers (item 3)", () => {
  it("the upstream's x-request-id, openai-processing-ms, openai-version and x-ratelimit-* reach the client, JSON and streamed; nothing else of the upstream's", async () => {
    const { data: chat, response, request_id } = await client.chat.completions.create({ model: model.alias, messages: [{ role: "user", content: "hi" }] }).withResponse();
    expect(request_id).toMatch(/^req_mock/);
    expect(chat.choices[0]?.message.content).toBe("Hello word1 word2");
    expect(response.headers.get("openai-version")).toBe("2020-10-01");
    expect(response.headers.get("openai-processing-ms")).toMatch(/^\d+$/);
    expect(response.headers.get("x-ratelimit-limit-requests")).toBe("10000");
    expect(response.headers.get("x-ratelimit-remaining-requests")).toBe("9999");
    expect(response.headers.get("x-mock-internal")).toBeNull();

    const streamed = await client.chat.completions.create({ model: model.alias, messages: [{ role: "user", content: "hi" }], stream: true }).withResponse();
    expect(streamed.request_id).toMatch(/^req_mock/);
    expect(streamed.request_id).not.toBe(request_id);
    for await (const _ of streamed.data);

    const created = await client.responses.create({ model: model.alias, input: "hi" });
    expect(created._request_id).toMatch(/^req_mock/);
    const embedded = await client.embeddings.create({ model: model.alias, input: "a" });
    expect(embedded._request_id).toMatch(/^req_mock/);
  });

  it("CORS: /ai/* answers preflight with 204 and lets any origin read answers and errors (default *)", async () => {
    const preflight = await SELF.fetch("https://gateway.test/ai/v1/chat/completions", {
      method: "OPTIONS",
      headers: { origin: "https://app.example.com", "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type,x-stainless-os" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST");
    expect(preflight.headers.get("access-control-allow-headers")).toBe("authorization,content-type,x-stainless-os");

    const answer = await SELF.fetch("https://gateway.test/ai/v1/chat/completions", {
      method: "POST",
      headers: { origin: "https://app.example.com", authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: model.alias, messages: [{ role: "user", content: "hi" }] }),
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("access-control-allow-origin")).toBe("*");
    const exposed = (answer.headers.get("access-control-expose-headers") ?? "").split(",");
    expect(exposed).toEqual(expect.arrayContaining(["x-request-id", "openai-processing-ms", "x-ratelimit-remaining-requests", "x-tollgate-event-id", "x-tollgate-cost"]));
    await answer.text();

    const refused = await SELF.fetch("https://gateway.test/ai/v1/models", { headers: { origin: "https://app.example.com" } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("CORS: the admin API never answers cross-origin (no preflight, no Access-Control-* on answers)", async () => {
    const preflight = await SELF.fetch("https://gateway.test/admin/api/v1/users", {
      method: "OPTIONS",
      headers: { origin: "https://app.example.com", "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
    });
    expect(preflight.status).not.toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
    const answer = await SELF.fetch("https://gateway.test/admin/api/v1/users", { headers: { origin: "https://app.example.com", authorization: `Bearer ${env.ADMIN_TOKEN}` } });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("access-control-allow-origin")).toBeNull();
    await answer.text();
  });

  it("CORS_ALLOWED_ORIGINS: a listed origin is echoed, any other gets no Access-Control-Allow-Origin", async () => {
    const app = newApp();
    const listed = { ...env, CORS_ALLOWED_ORIGINS: "https://a.example.com, https://b.example.com" };
    const preflight = (origin: string) =>
      app.request("/ai/v1/responses", { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST" } }, listed);
    const ok = await preflight("https://b.example.com");
    expect(ok.status).toBe(204);
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://b.example.com");
    expect(ok.headers.get("vary")).toContain("Origin");
    const other = await preflight("https://evil.example.com");
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("routes and fields (item 4)", () => {
  it("models.retrieve: OpenAI's model object; a model the key cannot use is a 404 like an unknown one", async () => {
    const retrieved = await client.models.retrieve(model.alias);
    expect(retrieved).toMatchObject({ id: model.alias, object: "model", owned_by: "tollgate" });
    expect(retrieved.created).toBeGreaterThan(1_600_000_000);
    const closed = await createModel(pool, { url: mockBase(), open: false });
    for (const id of [closed.alias, "no-such-model"]) {
      const err = await client.models.retrieve(id).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.NotFoundError);
      expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe("model_not_found");
    }
  });

  it("responses.inputItems.list: OpenAI's list shape, paged with after/limit/order; the owner only", async () => {
    const input = ["one", "two", "three"].map((text) => ({ role: "user" as const, content: text }));
    const created = await client.responses.create({ model: model.alias, input });
    await persistResponse(pool, await responseMessageFor(created.id));
    const texts = (items: OpenAI.Responses.ResponseItem[]) => items.map((i) => (i.type === "message" ? (i.content[0] as { text: string }).text : i.type));

    const asc: OpenAI.Responses.ResponseItem[] = [];
    for await (const item of client.responses.inputItems.list(created.id, { limit: 2, order: "asc" })) asc.push(item);
    expect(texts(asc)).toEqual(["one", "two", "three"]);
    const first = await client.responses.inputItems.list(created.id, { limit: 2 });
    expect(texts(first.data)).toEqual(["three", "two"]);
    expect(first.has_more).toBe(true);
    expect(first.data[0]).toMatchObject({ type: "message", role: "user", status: "completed", content: [{ type: "input_text", text: "three" }] });

    const stranger = sdk((await createKey(pool, await createUser(pool))).key);
    await expect(stranger.responses.inputItems.list(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.responses.inputItems.list(created.id, { limit: 0 })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });

  it("a chained response echoes previous_response_id, to the client and in the stored object", async () => {
    const first = await client.responses.create({ model: model.alias, input: "hi" });
    expect(first.previous_response_id).toBeNull();
    await persistResponse(pool, await responseMessageFor(first.id));
    const second = await client.responses.create({ model: model.alias, input: "again", previous_response_id: first.id });
    expect(second.previous_response_id).toBe(first.id);
    const stored = JSON.parse((await responseMessageFor(second.id)).response_body ?? "{}") as { previous_response_id?: string };
    expect(stored.previous_response_id).toBe(first.id);
  });
});

describe("read-after-write responses (item 1)", () => {
  // test-main only collects the queue's messages: no row reaches Postgres unless a test writes it,
  // so everything here is served from the live copy the gateway wrote before the last byte.
  it("a JSON response is retrievable, listable and chainable at once; another key gets 404", async () => {
    const first = await client.responses.create({ model: model.alias, input: "remember 7" });
    expect((await client.responses.retrieve(first.id)).output_text).toBe("Hello word1 word2");
    expect((await client.responses.inputItems.list(first.id)).data).toHaveLength(1);
    const second = await client.responses.create({ model: model.alias, input: "and now?", previous_response_id: first.id });
    expect(second.previous_response_id).toBe(first.id);
    const third = await client.responses.create({ model: model.alias, input: "and then?", previous_response_id: second.id });
    expect(third.status).toBe("completed");
    const stranger = sdk((await createKey(pool, await createUser(pool))).key);
    await expect(stranger.responses.retrieve(first.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(stranger.responses.create({ model: model.alias, input: "x", previous_response_id: first.id })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("a streamed response is retrievable and chainable the moment the client has the last event", async () => {
    const final = await client.responses.stream({ model: model.alias, input: "hi" }).finalResponse();
    const retrieved = await client.responses.retrieve(final.id);
    expect(retrieved.id).toBe(final.id);
    expect(retrieved.status).toBe("completed");
    const next = await client.responses.create({ model: model.alias, input: "more", previous_response_id: final.id });
    expect(next.previous_response_id).toBe(final.id);
  });

  it("DELETE before the row lands removes the live copy (then 404), and the row arriving afterwards does not bring it back", async () => {
    const created = await client.responses.create({ model: model.alias, input: "bye" });
    const stranger = sdk((await createKey(pool, await createUser(pool))).key);
    await expect(stranger.responses.delete(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await client.responses.delete(created.id);
    await expect(client.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    // The queue's message reaches the consumer after the delete.
    const db = await pool.connect();
    try {
      expect(await writeResponseBatch(db, [await responseMessageFor(created.id)])).toMatchObject({ stored: 0, deletedFirst: 1 });
    } finally {
      db.release();
    }
    await expect(client.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.responses.create({ model: model.alias, input: "x", previous_response_id: created.id })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("store: false leaves nothing to retrieve", async () => {
    const created = await client.responses.create({ model: model.alias, input: "private", store: false });
    await expect(client.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});

describe("one model name everywhere, and the usage the client asked for (items 2 and 4)", () => {
  it("chat streams: every chunk and finalChatCompletion carry the alias; the stream row stores the upstream's name", async () => {
    const { data: stream, response } = await client.chat.completions.create({ model: model.alias, messages: [{ role: "user", content: "hi" }], stream: true }).withResponse();
    const models = new Set<string>();
    for await (const chunk of stream) models.add(chunk.model);
    expect([...models]).toEqual([model.alias]);
    expect((await usageMessageFor(response)).served_model).toBe("mock-gpt");
    const final = await client.chat.completions.stream({ model: model.alias, messages: [{ role: "user", content: "hi" }] }).finalChatCompletion();
    expect(final.model).toBe(model.alias);
    const completion = await client.completions.create({ model: model.alias, prompt: "hi", stream: true });
    for await (const chunk of completion) expect(chunk.model).toBe(model.alias);
  });

  it("responses streams: every response.* event, the final response and the stored object carry the alias", async () => {
    const stream = client.responses.stream({ model: model.alias, input: "hi" });
    const seen = new Set<string>();
    for await (const event of stream) if ("response" in event) seen.add(event.response.model);
    expect([...seen]).toEqual([model.alias]);
    const final = await stream.finalResponse();
    expect(final.model).toBe(model.alias);
    expect((await client.responses.retrieve(final.id)).model).toBe(model.alias);
  });

  it("a continued streamed response names previous_response_id in its events", async () => {
    const first = await client.responses.create({ model: model.alias, input: "hi" });
    const stream = client.responses.stream({ model: model.alias, input: "more", previous_response_id: first.id });
    const previous = new Set<string | null | undefined>();
    for await (const event of stream) if ("response" in event) previous.add(event.response.previous_response_id);
    expect([...previous]).toEqual([first.id]);
  });

  it("without include_usage no chunk mentions usage (Tollgate's own request for it is undone); with it, usage arrives", async () => {
    const res = await SELF.fetch("https://gateway.test/ai/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: model.alias, stream: true, messages: [{ role: "user", content: "hi" }] }),
    });
    const raw = await res.text();
    expect(raw).toContain("data: [DONE]");
    expect(raw).not.toContain('"usage"');
    expect((await usageMessageFor(res)).usage.total_tokens).toBe(21);
    const withUsage = await client.chat.completions.create({ model: model.alias, messages: [{ role: "user", content: "hi" }], stream: true, stream_options: { include_usage: true } });
    let total = 0;
    for await (const chunk of withUsage) total = chunk.usage?.total_tokens ?? total;
    expect(total).toBe(21);
  });

  it("JSON rows store the upstream's name too", async () => {
    const { response } = await client.chat.completions.create({ model: model.alias, messages: [{ role: "user", content: "hi" }] }).withResponse();
    expect((await usageMessageFor(response)).served_model).toBe("mock-gpt");
  });
});

describe("responses_via_chat models run prompt-cache accounting (item 4)", () => {
  const SYSTEM = "You are a careful assistant who answers in one short sentence. ".repeat(40);
  const body = (alias: string, question: string, ttl = "5m") => ({
    model: alias,
    input: [
      { role: "developer", content: [{ type: "input_text", text: SYSTEM, cache_control: { type: "ephemeral", ttl } }] },
      { role: "user", content: question },
    ],
  });

  it("markers are validated, stripped before the upstream, and the prefix is cache-billed: a write, then a read", async () => {
    const userId = await createUser(pool);
    const { key: cacheKey } = await createKey(pool, userId);
    const chatModel = await createModel(pool, { url: mockBase(), modelName: "mock-chat+count", responsesViaChat: true });
    await pool.query(
      `INSERT INTO model_cache_tariffs (deployed_model_id, read_multiplier, write_multiplier_5m, write_multiplier_1h, min_prefix_tokens, valid_from)
       VALUES ($1, 0.1, 1.25, 2.0, 100, now() - interval '1 minute')`,
      [chatModel.modelId],
    );
    const refused = await expectError(await post("/responses", body(chatModel.alias, "q0", "24h"), cacheKey), 400, "invalid_cache_control");
    expect(refused.message).toContain("5m");

    const first = await post("/responses", body(chatModel.alias, `q1 ${crypto.randomUUID()}`), cacheKey);
    expect(first.status).toBe(200);
    await first.text();
    expect((await usageMessageFor(first)).cache.write_5m_tokens).toBeGreaterThan(100);
    const sent = await upstreamRequest((r) => JSON.stringify(r.body).includes("q1 "));
    expect(sent.path).toBe("/v1/chat/completions");
    expect(JSON.stringify(sent.body)).not.toContain("cache_control");

    // The index write commits after the response, off its path.
    const deadline = Date.now() + 5000;
    while ((await pool.query("SELECT 1 FROM prompt_cache_entries WHERE principal_id = $1", [userId])).rows.length === 0 && Date.now() < deadline) await sleep(50);
    const second = await post("/responses", { ...body(chatModel.alias, "q2"), stream: true }, cacheKey);
    const events = await second.text();
    expect(events).toContain("response.completed");
    const billed = await usageMessageFor(second);
    expect(billed.cache.read_tokens).toBeGreaterThan(100);
    expect(billed.usage.prompt_tokens).toBeGreaterThan(billed.cache.read_tokens);
    // The stream's final response reports the cached tokens it is billed for, as a JSON answer does.
    const completed = events
      .split("\n")
      .filter((l) => l.startsWith("data: "))
      .map((l) => JSON.parse(l.slice(6)) as { type: string; response?: { usage?: { input_tokens_details?: { cached_tokens?: number } } } })
      .find((e) => e.type === "response.completed");
    expect(completed?.response?.usage?.input_tokens_details?.cached_tokens).toBe(billed.cache.read_tokens);
  });
});

describe("previous_response_id with store: false", () => {
  it("the unstored continuation still names the response it continues", async () => {
    const first = await client.responses.create({ model: model.alias, input: "hi" });
    const second = await client.responses.create({ model: model.alias, input: "again", previous_response_id: first.id, store: false });
    expect(second.previous_response_id).toBe(first.id);
  });
});
