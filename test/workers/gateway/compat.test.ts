/**
 * Client compatibility (#15): the unmodified official `openai` client for Node, driving the gateway
 * inside workerd the way a new user's first script does — against the bundled mock upstream.
 */
import { env, SELF } from "cloudflare:test";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool, DbSettingsSchema, type Pool } from "../../../shared/db.ts";
import { createKey, createModel, createUser, type ModelFixture } from "../../support/db-fixtures.ts";
import { mockBase } from "./helpers.ts";

let pool: Pool;
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
  pool = createPool(DbSettingsSchema.parse(env));
  ({ key } = await createKey(pool, await createUser(pool)));
  model = await createModel(pool, { url: mockBase() });
  client = sdk(key);
});

afterAll(async () => {
  await pool?.end();
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
