/**
 * The Responses ⇄ Chat Completions adapter inside workerd against a real Postgres: a model with
 * `responses_via_chat` serves the official `openai` client's `responses.create` (JSON and
 * streamed) from the mock upstream's /chat/completions; function calling round trips; the usage
 * message carries the upstream's tokens; stored responses come back from `responses.retrieve`;
 * cuts and error frames are honest; a client that leaves is still metered.
 */
import { env, SELF } from "cloudflare:test";
import OpenAI from "openai";
import { beforeAll, describe, expect, it } from "vitest";
import type { ResponseMessage } from "../../../shared/response-message.ts";
import { createKey, createModel, createUser, type ModelFixture } from "../../support/db-fixtures.ts";
import { useTestPool } from "../test-pool.ts";
import { api, ok } from "./admin-helpers.ts";
import { expectError, mockBase, persistResponse, post, responseMessageFor, sleep, upstreamRequest, usageMessageFor } from "./helpers.ts";
import { responsesReceived } from "./test-main.ts";

const pool = useTestPool();
let key: string;
let client: OpenAI;
let model: ModelFixture;
let toolModel: ModelFixture;

const WEATHER_TOOL = {
  type: "function" as const,
  name: "get_weather",
  description: "The weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false },
  strict: true,
};

beforeAll(async () => {
  ({ key } = await createKey(pool, await createUser(pool)));
  model = await createModel(pool, { url: mockBase(), modelName: "mock-chat", responsesViaChat: true });
  toolModel = await createModel(pool, { url: mockBase(), modelName: "mock-chat+tool", responsesViaChat: true });
  client = new OpenAI({ apiKey: key, baseURL: "https://gateway.test/ai/v1", maxRetries: 0, fetch: (input, init) => SELF.fetch(input, init) });
});


const persist = (message: ResponseMessage) => persistResponse(pool, message);

const TEXT_OUTPUT = { type: "message", role: "assistant", status: "completed", content: [expect.objectContaining({ type: "output_text", text: "Hello word1 word2" })] };

const bodyHas = (marker: string) => (r: { body: unknown }) => JSON.stringify(r.body).includes(marker);

describe("responses_via_chat on the admin API", () => {
  it("defaults to false, is set on create and patch, and the gateway follows it", async () => {
    const ep = await ok<{ id: string }>(await api("POST", "/endpoints", env.ADMIN_TOKEN, { name: `ep-${crypto.randomUUID().slice(0, 8)}`, url: mockBase() }), 201);
    const alias = `m-${crypto.randomUUID().slice(0, 8)}`;
    const plain = await ok<{ id: string; responses_via_chat: boolean }>(
      await api("POST", "/models", env.ADMIN_TOKEN, { model_name: "mock-chat", alias: `${alias}-plain`, hosted_on: ep.id }),
      201,
    );
    expect(plain.responses_via_chat).toBe(false);
    const created = await ok<{ id: string; responses_via_chat: boolean }>(
      await api("POST", "/models", env.ADMIN_TOKEN, { model_name: "mock-chat", alias, hosted_on: ep.id, open_to_everyone: true, responses_via_chat: true }),
      201,
    );
    expect(created.responses_via_chat).toBe(true);
    expect(await ok<{ responses_via_chat: boolean }>(await api("GET", `/models/${created.id}`, env.ADMIN_TOKEN))).toMatchObject({ responses_via_chat: true });
    expect(await ok<{ responses_via_chat: boolean }>(await api("PATCH", `/models/${plain.id}`, env.ADMIN_TOKEN, { responses_via_chat: true }))).toMatchObject({
      responses_via_chat: true,
    });

    const marker = crypto.randomUUID();
    const res = await post("/responses", { model: alias, input: marker }, key);
    expect(res.status, await res.clone().text()).toBe(200);
    expect((await upstreamRequest(bodyHas(marker))).path).toBe("/v1/chat/completions");
  });
});

describe("the openai client against a responses_via_chat model", () => {
  it("responses.create: the upstream got a chat request under its own name; the client a Responses object; the meter the upstream's tokens", async () => {
    const marker = `hello ${crypto.randomUUID()}`;
    const { data, response } = await client.responses
      .create({ model: model.alias, instructions: "be brief", input: marker, max_output_tokens: 64, temperature: 0.3 })
      .withResponse();
    expect(data.output_text).toBe("Hello word1 word2");
    expect(data).toMatchObject({ object: "response", status: "completed", model: model.alias, instructions: "be brief" });
    expect(data.id).toMatch(/^resp_/);
    expect(data.usage).toMatchObject({ input_tokens: 12, output_tokens: 9, total_tokens: 21, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } });

    const seen = await upstreamRequest(bodyHas(marker));
    expect(seen.path).toBe("/v1/chat/completions");
    expect(seen.body).toEqual({
      model: "mock-chat",
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: marker },
      ],
      max_tokens: 64,
      temperature: 0.3,
    });

    expect(await usageMessageFor(response)).toMatchObject({
      uri: "/ai/v1/responses",
      model: model.alias,
      served_model: "mock-chat",
      status_code: 200,
      usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21, reasoning_tokens: 0, cached_tokens: 0 },
      response_type: "json",
      finish_reason: "completed",
      truncated: false,
    });
  });

  it("stream: true — every event numbered in order, the text deltas, response.completed with usage; metered as a stream", async () => {
    const marker = `stream ${crypto.randomUUID()}`;
    const { data: stream, response } = await client.responses.create({ model: model.alias, input: marker, stream: true }).withResponse();
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const types = events.map((e) => e.type);
    expect(types.slice(0, 4)).toEqual(["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]);
    expect(types.slice(-4)).toEqual(["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]);
    const deltas = events.flatMap((e) => (e.type === "response.output_text.delta" ? [e.delta] : []));
    expect(deltas.join("")).toBe("Hello word1 word2");
    const completed = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    expect(completed.response).toMatchObject({ status: "completed", model: model.alias, usage: { input_tokens: 12, output_tokens: 9, total_tokens: 21 } });

    const seen = await upstreamRequest(bodyHas(marker));
    expect(seen.body).toMatchObject({ model: "mock-chat", stream: true, stream_options: { include_usage: true } });
    expect(await usageMessageFor(response)).toMatchObject({
      served_model: "mock-chat",
      usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 },
      response_type: "stream",
      finish_reason: "completed",
      truncated: false,
    });
  });

  it("responses.stream(): finalResponse is the translated response", async () => {
    const stream = client.responses.stream({ model: model.alias, input: "hi" });
    const final = await stream.finalResponse();
    // The stream helper's final response carries `parsed` fields and no `output_text` (the SDK's doing).
    expect(final).toMatchObject({ status: "completed", model: model.alias, output: [TEXT_OUTPUT], usage: { input_tokens: 12, output_tokens: 9 } });
  });

  it("function calling round trip: a function_call item, then the tool's output answered with text", async () => {
    const marker = `weather ${crypto.randomUUID()}`;
    const first = await client.responses.create({ model: toolModel.alias, input: marker, tools: [WEATHER_TOOL] });
    const call = first.output.find((item) => item.type === "function_call");
    expect(call).toMatchObject({ type: "function_call", name: "get_weather", arguments: '{"city":"Paris"}', status: "completed" });
    expect(call!.call_id).toMatch(/^call_mock/);
    expect((await upstreamRequest(bodyHas(marker))).body).toMatchObject({
      model: "mock-chat+tool",
      tools: [{ type: "function", function: { name: "get_weather", description: "The weather in a city", parameters: WEATHER_TOOL.parameters, strict: true } }],
    });

    const second = await client.responses.create({
      model: toolModel.alias,
      tools: [WEATHER_TOOL],
      input: [{ role: "user", content: marker }, ...first.output.filter((item) => item.type === "function_call"), { type: "function_call_output", call_id: call!.call_id, output: "sunny, 21°C" }],
    });
    expect(second.output_text).toBe("Hello word1 word2");
    const seen = await upstreamRequest((r) => bodyHas(marker)(r) && bodyHas("sunny")(r));
    expect((seen.body as { messages: unknown[] }).messages).toEqual([
      { role: "user", content: marker },
      { role: "assistant", content: null, tool_calls: [{ id: call!.call_id, type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] },
      { role: "tool", tool_call_id: call!.call_id, content: "sunny, 21°C" },
    ]);
  });

  it("a streamed tool call: argument deltas and the call in the final response", async () => {
    const stream = client.responses.stream({ model: toolModel.alias, input: "weather?", tools: [WEATHER_TOOL] });
    const argumentDeltas: string[] = [];
    stream.on("response.function_call_arguments.delta", (e) => argumentDeltas.push(e.delta));
    const final = await stream.finalResponse();
    expect(argumentDeltas.join("")).toBe('{"city":"Paris"}');
    expect(final.output).toEqual([expect.objectContaining({ type: "function_call", name: "get_weather", arguments: '{"city":"Paris"}' })]);
  });

  it("stored responses (JSON and streamed) come back from responses.retrieve", async () => {
    const created = await client.responses.create({ model: model.alias, input: "store me" });
    await persist(await responseMessageFor(created.id));
    const retrieved = await client.responses.retrieve(created.id);
    expect(retrieved).toMatchObject({ id: created.id, object: "response", model: model.alias, status: "completed", output: created.output, usage: created.usage });
    expect(retrieved.output_text).toBe("Hello word1 word2");

    const final = await client.responses.stream({ model: model.alias, input: "store me streamed" }).finalResponse();
    const message = await responseMessageFor(final.id);
    expect(message).toMatchObject({ model: model.alias, status: "completed", response_status: 200 });
    expect(JSON.parse(message.request_body!)).toMatchObject({ model: model.alias, input: "store me streamed", stream: true });
    await persist(message);
    expect(await client.responses.retrieve(final.id)).toMatchObject({ id: final.id, status: "completed", output: [TEXT_OUTPUT], usage: final.usage });
  });
});

describe("failures through the adapter", () => {
  async function readUntilEnd(res: Response): Promise<string> {
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let text = "";
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return text;
        text += dec.decode(value, { stream: true });
      }
    } catch {
      return text; // the stream broke, as an upstream cut must show
    }
  }

  it("an upstream cut breaks the stream without response.completed, is flagged truncated and is not stored", async () => {
    const cutting = await createModel(pool, { url: mockBase(), modelName: "mock-chat+cut_stream", responsesViaChat: true });
    const before = responsesReceived.length;
    const res = await post("/responses", { model: cutting.alias, input: "hi", stream: true }, key);
    expect(res.status).toBe(200);
    const text = await readUntilEnd(res);
    expect(text).toContain("response.output_text.delta");
    expect(text).not.toContain("response.completed");
    expect(await usageMessageFor(res)).toMatchObject({ response_type: "stream", truncated: true, finish_reason: null });
    await sleep(100);
    expect(responsesReceived.slice(before).filter((m) => m.model === cutting.alias)).toEqual([]);
  });

  it("an upstream error frame becomes an error event and is metered as stream_error", async () => {
    const failing = await createModel(pool, { url: mockBase(), modelName: "mock-chat+error_frame", responsesViaChat: true });
    const res = await post("/responses", { model: failing.alias, input: "hi", stream: true }, key);
    const text = await readUntilEnd(res);
    expect(text).toContain("event: error");
    expect(text).not.toContain("response.completed");
    expect(await usageMessageFor(res)).toMatchObject({ response_type: "stream_error", truncated: true });
  });

  it("a client that leaves mid-stream from a `drain` model still has the upstream's full usage recorded", async () => {
    const slow = await createModel(pool, { url: mockBase(), modelName: "mock-chat+slow", responsesViaChat: true });
    await pool.query("UPDATE deployed_models SET on_client_disconnect = 'drain' WHERE alias = $1", [slow.alias]);
    const res = await post("/responses", { model: slow.alias, input: "hi", stream: true, store: false }, key);
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    expect(await usageMessageFor(res, 10_000)).toMatchObject({ usage: { prompt_tokens: 12, completion_tokens: 9 }, response_type: "stream", truncated: false });
  });

  it("an upstream HTTP error passes through; a request chat cannot express is a 400 naming the field", async () => {
    const broken = await createModel(pool, { url: mockBase(), modelName: "mock-chat+http_500", responsesViaChat: true });
    await expectError(await post("/responses", { model: broken.alias, input: "hi" }, key), 500, "mock_error");
    const error = await expectError(await post("/responses", { model: model.alias, input: "hi", tools: [{ type: "web_search" }] }, key), 400, "invalid_request_error");
    expect(error.param).toBe("tools[0].type");
  });

  it("a model without the switch still goes to the upstream's /responses", async () => {
    const plain = await createModel(pool, { url: mockBase(), modelName: "mock-gpt" });
    const marker = crypto.randomUUID();
    const response = await client.responses.create({ model: plain.alias, input: marker });
    expect(response.id).toMatch(/^resp_mock/);
    expect((await upstreamRequest(bodyHas(marker))).path).toBe("/v1/responses");
  });

  it("previous_response_id continues the conversation through the adapter: the chat upstream gets every turn", async () => {
    const marker = crypto.randomUUID();
    const first = await client.responses.create({ model: model.alias, input: `first ${marker}` });
    await persist(await responseMessageFor(first.id));
    const second = await client.responses.create({ model: model.alias, input: `second ${marker}`, previous_response_id: first.id });
    expect(second.output_text).toBe("Hello word1 word2");
    const sent = await upstreamRequest((r) => JSON.stringify(r.body).includes(`second ${marker}`));
    expect(sent.path).toBe("/v1/chat/completions");
    expect((sent.body as { messages: unknown[] }).messages).toEqual([
      { role: "user", content: `first ${marker}` },
      { role: "assistant", content: "Hello word1 word2" },
      { role: "user", content: `second ${marker}` },
    ]);
  });
});
