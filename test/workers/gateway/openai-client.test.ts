/**
 * The official `openai` client, unchanged, against the gateway inside workerd.
 */
import { SELF } from "cloudflare:test";
import OpenAI from "openai";
import { beforeAll, describe, expect, it } from "vitest";
import { createKey, createModel, createUser, type ModelFixture } from "../../support/db-fixtures.ts";
import { useTestPool } from "../test-pool.ts";
import { mockBase } from "./helpers.ts";

const pool = useTestPool();
let client: OpenAI;
let model: ModelFixture;

beforeAll(async () => {
  const { key } = await createKey(pool, await createUser(pool));
  model = await createModel(pool, { url: mockBase() });
  client = new OpenAI({ apiKey: key, baseURL: "https://gateway.test/ai/v1", maxRetries: 0, fetch: (input, init) => SELF.fetch(input, init) });
});

describe("openai SDK", () => {
  it("chat completions, plain and streamed (with usage)", async () => {
    const chat = await client.chat.completions.create({ model: model.alias, messages: [{ role: "user", content: "hi" }] });
    expect(chat.choices[0]?.message.content).toBe("Hello word1 word2");
    expect(chat.model).toBe(model.alias);

    const stream = await client.chat.completions.create({ model: model.alias, messages: [{ role: "user", content: "hi" }], stream: true, stream_options: { include_usage: true } });
    let content = "";
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(content).toBe("Hello word1 word2");
    expect(usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 9 });
  });

  it("a stream without include_usage has no usage chunk", async () => {
    const stream = await client.chat.completions.create({ model: model.alias, messages: [], stream: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks.some((c) => c.choices.length === 0)).toBe(false);
  });

  it("completions, embeddings, responses and models", async () => {
    const completion = await client.completions.create({ model: model.alias, prompt: "hi" });
    expect(completion.choices[0]?.text).toBe("Hello word1 word2");
    const embeddings = await client.embeddings.create({ model: model.alias, input: ["a", "b", "c"] });
    expect(embeddings.data).toHaveLength(3);
    const response = await client.responses.create({ model: model.alias, input: "hi" });
    expect(response.output_text).toBe("Hello word1 word2");
    const models = [];
    for await (const m of client.models.list()) models.push(m.id);
    expect(models).toContain(model.alias);
  });

  it("errors become the SDK's typed errors", async () => {
    await expect(client.chat.completions.create({ model: "missing-model", messages: [] })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const anonymous = new OpenAI({ apiKey: "tg-wrong", baseURL: "https://gateway.test/ai/v1", maxRetries: 0, fetch: (input, init) => SELF.fetch(input, init) });
    await expect(anonymous.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });
});
