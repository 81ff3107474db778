/**
 * Stored responses through the gateway, inside workerd against a real Postgres: what `POST
 * /ai/v1/responses` enqueues (JSON and streamed, inline or via R2, nothing for `store: false`),
 * and `GET|DELETE /ai/v1/responses/{id}` for the owner and for everyone else. The enqueued message
 * is written with the consumer's own write path, so the round trip is the real one.
 */
import { env, SELF } from "cloudflare:test";
import OpenAI from "openai";
import { beforeAll, describe, expect, it } from "vitest";
import { messageBytes, type ResponseMessage } from "../../../shared/response-message.ts";
import { createKey, createModel, createUser, type ModelFixture } from "../../support/db-fixtures.ts";
import { useTestPool } from "../test-pool.ts";
import { expectError, mockBase, persistResponse, post, responseMessageFor, sleep, upstreamRequests, usageMessageFor } from "./helpers.ts";
import { responsesReceived } from "./test-main.ts";

const pool = useTestPool();
let ownerId: string;
let key: string;
let keyId: string;
let sameOwnerKey: string;
let otherKey: string;
let model: ModelFixture;
let bigModel: ModelFixture;

beforeAll(async () => {
  ownerId = await createUser(pool);
  ({ key, id: keyId } = await createKey(pool, ownerId));
  sameOwnerKey = (await createKey(pool, ownerId, "playground")).key;
  otherKey = (await createKey(pool, await createUser(pool))).key;
  model = await createModel(pool, { url: mockBase(), modelName: "mock-gpt" });
  bigModel = await createModel(pool, { url: mockBase(), modelName: "mock-gpt+big" });
});


const persist = (message: ResponseMessage) => persistResponse(pool, message);

const getResponse = (id: string, k: string | null) =>
  SELF.fetch(`https://gateway.test/ai/v1/responses/${id}`, { headers: k ? { authorization: `Bearer ${k}` } : {} });
const deleteResponse = (id: string, k: string | null) =>
  SELF.fetch(`https://gateway.test/ai/v1/responses/${id}`, { method: "DELETE", headers: k ? { authorization: `Bearer ${k}` } : {} });

async function rowCount(id: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>("SELECT count(*) AS n FROM requests WHERE id = $1", [id]);
  return Number(rows[0]!.n);
}

/** A stored JSON response: POST, wait for its message, write it. */
async function storedResponse(input = "hi"): Promise<{ id: string; body: Record<string, unknown> }> {
  const res = await post("/responses", { model: model.alias, input }, key);
  expect(res.status).toBe(200);
  const body = (await res.json()) as Record<string, unknown>;
  await persist(await responseMessageFor(body.id as string));
  return { id: body.id as string, body };
}

function sseEvents(text: string): { type: string; response?: Record<string, unknown> }[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith("data: "))
    .map((l) => JSON.parse(l.slice(6)) as { type: string; response?: Record<string, unknown> });
}

describe("POST /ai/v1/responses stores the response", () => {
  it("JSON: one response message with the upstream's id, the key, alias, status, tier, timing and both bodies", async () => {
    const marker = crypto.randomUUID();
    const res = await post("/responses", { model: model.alias, input: marker }, key);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { id: string; model: string };
    expect(body.id).toMatch(/^resp_mock/);
    expect(body.model).toBe(model.alias);

    const message = await responseMessageFor(body.id);
    expect(message).toMatchObject({
      kind: "response",
      v: 1,
      id: body.id,
      api_key_id: keyId,
      model: model.alias,
      status: "completed",
      service_tier: "priority",
      response_status: 200,
      previous_response_id: null,
      body_object_key: null,
    });
    expect(Date.parse(message.completed_at)).toBeGreaterThanOrEqual(Date.parse(message.created_at));
    expect(JSON.parse(message.request_body!)).toMatchObject({ model: model.alias, input: marker });
    expect(JSON.parse(message.response_body!)).toEqual(body);
    // The usage message is still sent, as before, and the response message points at it.
    const usage = await usageMessageFor(res);
    expect(usage).toMatchObject({ uri: "/ai/v1/responses", model: model.alias, status_code: 200 });
    expect(message.event_id).toBe(usage.event_id);
  });

  it("store: false is honoured: usage is metered, nothing is stored", async () => {
    const res = await post("/responses", { model: model.alias, input: "private", store: false }, key);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { id: string };
    await usageMessageFor(res);
    await sleep(200);
    expect(responsesReceived.filter((m) => m.id === body.id)).toEqual([]);
  });

  it("other routes and failed upstream calls store nothing", async () => {
    const before = responsesReceived.length;
    const chat = await post("/chat/completions", { model: model.alias, messages: [{ role: "user", content: "hi" }] }, key);
    await usageMessageFor(chat);
    const failing = await createModel(pool, { url: mockBase(), modelName: "mock-gpt+http_500" });
    const failed = await post("/responses", { model: failing.alias, input: "hi" }, key);
    expect(failed.status).toBe(500);
    await usageMessageFor(failed);
    await sleep(200);
    expect(responsesReceived.length).toBe(before);
  });

  it("streamed: the final response.completed object is stored under the id the client saw", async () => {
    const res = await post("/responses", { model: model.alias, input: "stream me", stream: true }, key);
    expect(res.status).toBe(200);
    const completed = sseEvents(await res.text()).find((e) => e.type === "response.completed")!;
    const id = completed.response!.id as string;
    const message = await responseMessageFor(id);
    expect(message).toMatchObject({ id, api_key_id: keyId, model: model.alias, status: "completed", response_status: 200 });
    const stored = JSON.parse(message.response_body!) as { model: string; output: unknown };
    expect(stored.model).toBe(model.alias);
    expect(stored.output).toEqual(completed.response!.output);

    await persist(message);
    const got = await getResponse(id, key);
    expect(got.status).toBe(200);
    expect(await got.json()).toMatchObject({ id, object: "response", status: "completed", model: model.alias });
  });

  it("a streamed store: false sends no response message", async () => {
    const res = await post("/responses", { model: model.alias, input: "x", stream: true, store: false }, key);
    const id = sseEvents(await res.text()).find((e) => e.type === "response.completed")!.response!.id as string;
    await usageMessageFor(res);
    await sleep(200);
    expect(responsesReceived.filter((m) => m.id === id)).toEqual([]);
  });

  it("a 300 KB response goes through R2: the message carries the key, GET reads it back, DELETE removes it", async () => {
    const res = await post("/responses", { model: bigModel.alias, input: "big" }, key);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.length).toBeGreaterThan(300_000);
    const body = JSON.parse(text) as { id: string };

    const message = await responseMessageFor(body.id);
    expect(message.body_object_key).toMatch(/^responses\//);
    expect(message.response_body).toBeNull();
    expect(message.request_body).toBeNull();
    expect(messageBytes(message)).toBeLessThan(128 * 1024);
    const object = await env.RESPONSES_BUCKET.get(message.body_object_key!);
    expect(object).not.toBeNull();
    expect((JSON.parse(await object!.text()) as { response_body: string }).response_body === text).toBe(true);

    await persist(message);
    const { rows } = await pool.query<{ response_body: string | null; body_object_key: string | null }>("SELECT response_body, body_object_key FROM requests WHERE id = $1", [body.id]);
    expect(rows).toEqual([{ response_body: null, body_object_key: message.body_object_key }]);

    const got = await getResponse(body.id, key);
    expect(got.status).toBe(200);
    expect((await got.text()) === text).toBe(true); // not toBe: a mismatch would print 300 KB

    const deleted = await deleteResponse(body.id, key);
    expect(await deleted.json()).toEqual({ id: body.id, object: "response", deleted: true });
    expect(await env.RESPONSES_BUCKET.head(message.body_object_key!)).toBeNull();
    expect(await rowCount(body.id)).toBe(0);
  });
});

describe("GET /ai/v1/responses/{id}", () => {
  it("returns the stored response object to its owner (any of the owner's keys)", async () => {
    const { id, body } = await storedResponse();
    const res = await getResponse(id, key);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(await res.json()).toEqual(body);
    expect(await (await getResponse(id, sameOwnerKey)).json()).toEqual(body);
  });

  it("another user's id is a 404 in the OpenAI envelope, like an unknown id", async () => {
    const { id } = await storedResponse();
    const err = await expectError(await getResponse(id, otherKey), 404, "not_found");
    expect(err.type).toBe("invalid_request_error");
    expect(err.message).toContain(id);
    await expectError(await getResponse("resp_doesnotexist", key), 404, "not_found");
    await expectError(await getResponse("not-a-response-id", key), 404, "not_found");
  });

  it("needs a valid key", async () => {
    const { id } = await storedResponse();
    await expectError(await getResponse(id, null), 401, "invalid_api_key");
    await expectError(await getResponse(id, "tg-not-a-real-key"), 401, "invalid_api_key");
  });
});

describe("DELETE /ai/v1/responses/{id}", () => {
  it("the owner deletes it: the OpenAI deletion object, then 404 on GET and on a second DELETE", async () => {
    const { id } = await storedResponse();
    const res = await deleteResponse(id, key);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id, object: "response", deleted: true });
    expect(await rowCount(id)).toBe(0);
    await expectError(await getResponse(id, key), 404, "not_found");
    await expectError(await deleteResponse(id, key), 404, "not_found");
  });

  it("another user's id is a 404 and the row remains", async () => {
    const { id } = await storedResponse();
    await expectError(await deleteResponse(id, otherKey), 404, "not_found");
    expect(await rowCount(id)).toBe(1);
    expect((await getResponse(id, key)).status).toBe(200);
  });
});

describe("previous_response_id", () => {
  it("continues the owner's stored conversation: the upstream receives every turn, the message records the link", async () => {
    const first = `first-${crypto.randomUUID()}`;
    const { id: previous, body: firstReply } = await storedResponse(first);
    const replyText = ((firstReply.output as { content: { text: string }[] }[])[0]!.content[0]!.text);
    const res = await post("/responses", { model: model.alias, input: "and then?", previous_response_id: previous, instructions: "be brief" }, key);
    expect(res.status).toBe(200);
    const second = (await res.json()) as Record<string, unknown>;
    const secondMessage = await responseMessageFor(second.id as string);
    expect(secondMessage).toMatchObject({ previous_response_id: previous });

    const sent = (await upstreamRequests()).reverse().find((r) => JSON.stringify(r.body).includes(first) && JSON.stringify(r.body).includes("and then?"))!;
    const sentBody = sent.body as Record<string, unknown>;
    expect(sentBody.previous_response_id).toBeUndefined(); // the upstream keeps no state
    expect(sentBody.instructions).toBe("be brief");
    expect(sentBody.input).toEqual([
      { type: "message", role: "user", content: first },
      { type: "message", role: "assistant", content: [{ type: "output_text", text: replyText }] },
      { type: "message", role: "user", content: "and then?" },
    ]);

    // A third turn chains through the second: the stored request is already the whole conversation.
    await persist(secondMessage);
    const third = await post("/responses", { model: model.alias, input: "last one", previous_response_id: second.id }, key);
    expect(third.status).toBe(200);
    await third.text();
    const thirdSent = (await upstreamRequests()).reverse().find((r) => JSON.stringify(r.body).includes("last one"))!;
    expect(((thirdSent.body as { input: { role: string }[] }).input).map((i) => i.role)).toEqual(["user", "assistant", "user", "assistant", "user"]);
  });

  it("another user's id (or an unknown one) is a 404 and nothing reaches the upstream", async () => {
    const { id: previous } = await storedResponse();
    const marker = crypto.randomUUID();
    const others = (await createKey(pool, await createUser(pool))).key;
    for (const previousId of [previous, "resp_unknown"]) {
      const err = await expectError(await post("/responses", { model: model.alias, input: marker, previous_response_id: previousId }, others), 404, "not_found");
      expect(err.param).toBe("previous_response_id");
    }
    expect((await upstreamRequests()).some((r) => JSON.stringify(r.body).includes(marker))).toBe(false);
  });
});

describe("the official openai client, unchanged", () => {
  it("responses.create, retrieve and delete work against the gateway; another key cannot see or delete", async () => {
    const client = (apiKey: string) => new OpenAI({ apiKey, baseURL: "https://gateway.test/ai/v1", maxRetries: 0, fetch: (input, init) => SELF.fetch(input, init) });
    const owner = client(key);
    const created = await owner.responses.create({ model: model.alias, input: "hello" });
    expect(created.model).toBe(model.alias);
    await persist(await responseMessageFor(created.id));

    const retrieved = await owner.responses.retrieve(created.id);
    expect(retrieved).toMatchObject({ id: created.id, object: "response", output: created.output });
    expect(retrieved.output_text).toBe(created.output_text);

    const intruder = client(otherKey);
    await expect(intruder.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(intruder.responses.delete(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);

    await owner.responses.delete(created.id);
    await expect(owner.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});
