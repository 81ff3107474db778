/**
 * Stored responses on the consumer side, inside workerd against a real Postgres: response messages
 * share the usage queue and batch handler; their rows land in `requests`, once, owned by the key's
 * user; records nobody owns are dropped and counted; usage billing beside them is unchanged.
 */
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { liveObjectKey, responseObjectKey, type ResponseMessageV1 } from "../../../shared/response-message.ts";
import { deleteOwnedResponse } from "../../../shared/sql/responses.ts";
import { createKey, createUser } from "../../support/db-fixtures.ts";
import { sampleMessage, sampleResponseMessage } from "../../support/samples.ts";
import { useTestPool } from "../test-pool.ts";
import { analyticsRows, batchOf, deliver, deliverForResult } from "./helpers.ts";

const pool = useTestPool();
let userId: string;
let keyId: string;

beforeAll(async () => {
  userId = await createUser(pool);
  keyId = (await createKey(pool, userId)).id;
});

type RequestRow = {
  id: string;
  created_by: string;
  api_key_id: string | null;
  event_id: string | null;
  model: string;
  status: string;
  service_tier: string | null;
  response_status: number | null;
  request_body: string | null;
  response_body: string | null;
  body_object_key: string | null;
  previous_response_id: string | null;
  created_at: Date;
  completed_at: Date | null;
  duration_ms: string | null;
};

async function requestRows(ids: string[]): Promise<RequestRow[]> {
  const { rows } = await pool.query<RequestRow>("SELECT * FROM requests WHERE id = ANY($1::text[]) ORDER BY id", [ids]);
  return rows;
}

/** Delivers straight to the batch handler for its result value, with the worker's R2 bucket. */

const owned = (overrides: Partial<ResponseMessageV1> = {}) => sampleResponseMessage({ api_key_id: keyId, ...overrides });

describe("response messages", () => {
  it("a completed response becomes one row with its owner, model, status, tier, timestamps and bodies", async () => {
    const message = owned({ duration_ms: 1234, previous_response_id: "resp_before" });
    const result = await deliver(batchOf([message]));
    expect(result.ackAll).toBe(true);
    expect(result.retryMessages).toEqual([]);

    const [row] = await requestRows([message.id]);
    expect(row).toMatchObject({
      id: message.id,
      created_by: userId,
      api_key_id: keyId,
      event_id: message.event_id,
      model: "demo-model",
      status: "completed",
      service_tier: "priority",
      response_status: 200,
      request_body: message.request_body,
      response_body: message.response_body,
      body_object_key: null,
      previous_response_id: "resp_before",
      duration_ms: "1234",
    });
    expect(row!.created_at.toISOString()).toBe(message.created_at);
    expect(row!.completed_at!.toISOString()).toBe(message.completed_at);
  });

  it("usage and response messages in one batch: both written, billing unchanged", async () => {
    const usage = sampleMessage({ api_key_id: keyId, uri: "/ai/v1/responses" });
    const responses = Array.from({ length: 5 }, () => owned());
    const { result, queue } = await deliverForResult(batchOf([usage, ...responses]));
    expect(queue.ackAll).toBe(true);
    expect(result).toMatchObject({ ok: true, deadLettered: 0, outcome: { recorded: 1 }, responses: { stored: 5, alreadyStored: 0, droppedOwnerless: 0 } });
    expect(await analyticsRows(pool, [usage.event_id])).toHaveLength(1);
    expect(await requestRows(responses.map((m) => m.id))).toHaveLength(5);
  });

  it("redelivery writes nothing new", async () => {
    const messages = [owned(), owned()];
    const first = await deliverForResult(batchOf(messages));
    expect(first.result).toMatchObject({ ok: true, responses: { stored: 2, alreadyStored: 0 } });
    const before = await requestRows(messages.map((m) => m.id));

    // The same ids again, even with different contents, change nothing.
    const again = messages.map((m) => ({ ...m, status: "failed", response_body: "{}" }));
    const second = await deliverForResult(batchOf(again, 2));
    expect(second.queue.ackAll).toBe(true);
    expect(second.result).toMatchObject({ ok: true, responses: { stored: 0, alreadyStored: 2, droppedOwnerless: 0 } });
    expect(await requestRows(messages.map((m) => m.id))).toEqual(before);

    // A duplicate inside one batch is written once.
    const dup = owned();
    const third = await deliverForResult(batchOf([dup, dup]));
    expect(third.result).toMatchObject({ ok: true, responses: { stored: 1, alreadyStored: 0 } });
  });

  it("records without an owner are dropped and counted; their R2 bodies are removed; the rest is stored", async () => {
    const good = owned();
    const unknownKey = sampleResponseMessage({ api_key_id: crypto.randomUUID() });
    const noKey = sampleResponseMessage({ api_key_id: null });
    const objectKey = responseObjectKey("resp_orphan");
    await env.RESPONSES_BUCKET.put(objectKey, JSON.stringify({ request_body: null, response_body: "{}" }));
    const bigOrphan = sampleResponseMessage({ id: "resp_orphan", api_key_id: crypto.randomUUID(), request_body: null, response_body: null, body_object_key: objectKey });

    const { result, queue } = await deliverForResult(batchOf([good, unknownKey, noKey, bigOrphan]));
    expect(queue.ackAll).toBe(true);
    expect(result).toMatchObject({ ok: true, deadLettered: 0, responses: { stored: 1, droppedOwnerless: 3 } });
    expect((await requestRows([good.id, unknownKey.id, noKey.id, bigOrphan.id])).map((r) => r.id)).toEqual([good.id]);
    expect(await env.RESPONSES_BUCKET.head(objectKey)).toBeNull();
  });

  it("a response whose bodies are in R2 is stored with the object key, bodies left in R2", async () => {
    const id = `resp_big${crypto.randomUUID().replace(/-/g, "")}`;
    const objectKey = responseObjectKey(id);
    const big = JSON.stringify({ id, object: "response", output_text: "x".repeat(300_000) });
    await env.RESPONSES_BUCKET.put(objectKey, JSON.stringify({ request_body: "{}", response_body: big }));
    const message = owned({ id, request_body: null, response_body: null, body_object_key: objectKey });
    expect((await deliver(batchOf([message]))).ackAll).toBe(true);
    expect(await requestRows([id])).toMatchObject([{ id, body_object_key: objectKey, response_body: null, request_body: null }]);
    const kept = JSON.parse(await (await env.RESPONSES_BUCKET.get(objectKey))!.text()) as { response_body: string };
    expect(kept.response_body === big).toBe(true); // not toEqual: a mismatch would print 300 KB
  });

  it("once the row is written the gateway's live copy (read-after-write) is removed from R2; another owner's is not", async () => {
    const message = owned();
    const live = liveObjectKey(userId, message.id);
    const otherLive = liveObjectKey(crypto.randomUUID(), message.id);
    await env.RESPONSES_BUCKET.put(live, "{}");
    await env.RESPONSES_BUCKET.put(otherLive, "{}");
    const { result } = await deliverForResult(batchOf([message]));
    expect(result).toMatchObject({ ok: true, responses: { stored: 1 } });
    expect(await env.RESPONSES_BUCKET.head(live)).toBeNull();
    expect(await env.RESPONSES_BUCKET.head(otherLive)).not.toBeNull();
  });

  it("a response its owner deleted before the row arrived is never written, on delivery or redelivery; its R2 bodies are removed", async () => {
    const id = `resp_gone${crypto.randomUUID().replace(/-/g, "")}`;
    const objectKey = responseObjectKey(id);
    await env.RESPONSES_BUCKET.put(objectKey, JSON.stringify({ request_body: "{}", response_body: "{}" }));
    const message = owned({ id, request_body: null, response_body: null, body_object_key: objectKey });
    // The owner's DELETE, served from the live copy: nothing to delete yet, a tombstone left.
    const client = await pool.connect();
    try {
      expect(await deleteOwnedResponse(client, id, userId, true)).toBeNull();
      // Another owner's delete of the same id leaves no tombstone that could touch this owner.
      expect(await deleteOwnedResponse(client, id, crypto.randomUUID(), true)).toBeNull();
    } finally {
      client.release();
    }
    for (const attempt of [1, 2]) {
      const { result, queue } = await deliverForResult(batchOf([message], attempt));
      expect(queue.ackAll).toBe(true);
      expect(result).toMatchObject({ ok: true, responses: { stored: 0, alreadyStored: 0, deletedFirst: 1 } });
    }
    expect(await requestRows([id])).toEqual([]);
    expect(await env.RESPONSES_BUCKET.head(objectKey)).toBeNull();

    // The same id from another owner (a different key's user) is not suppressed by it.
    const otherUser = await createUser(pool);
    const otherKey = (await createKey(pool, otherUser)).id;
    const foreign = sampleResponseMessage({ id: `resp_kept${crypto.randomUUID().replace(/-/g, "")}`, api_key_id: otherKey });
    const c2 = await pool.connect();
    try {
      await deleteOwnedResponse(c2, foreign.id, userId, true);
    } finally {
      c2.release();
    }
    expect((await deliverForResult(batchOf([foreign]))).result).toMatchObject({ ok: true, responses: { stored: 1 } });
  });

  it("a delete racing the row's write: whichever commits first, the response does not survive", async () => {
    // Many rounds of the owner's DELETE and the consumer's write started together.
    for (let i = 0; i < 20; i++) {
      const message = owned();
      const client = await pool.connect();
      try {
        await Promise.all([deliverForResult(batchOf([message])), deleteOwnedResponse(client, message.id, userId, true)]);
      } finally {
        client.release();
      }
      expect(await requestRows([message.id])).toEqual([]);
    }
  });

  it("a malformed response message is dead-lettered; the good ones beside it are stored", async () => {
    const good = owned();
    const bad = { ...owned(), id: "not-a-response-id" };
    const neither = { ...owned(), response_body: null }; // no body and no object key
    const { result, queue } = await deliverForResult(batchOf([good, bad, neither]));
    expect(queue.ackAll).toBe(true);
    expect(result).toMatchObject({ ok: true, deadLettered: 2, responses: { stored: 1 } });
    const { rows } = await pool.query<{ reason: string }>("SELECT reason FROM dead_letters WHERE body::text LIKE $1 OR body::text LIKE $2", [`%${bad.id}%`, `%${neither.id}%`]);
    expect(rows).toHaveLength(2);
    for (const r of rows) expect(r.reason).toMatch(/^malformed response message: /);
  });

  it("a database outage retries the whole batch and stores nothing", async () => {
    const message = owned();
    const down = { ...env, DATABASE_URL: "postgres://postgres@127.0.0.1:9/none" };
    const result = await deliver(batchOf([message]), down);
    expect(result.ackAll).toBe(false);
    expect(result.retryMessages).toHaveLength(1);
    expect(await requestRows([message.id])).toEqual([]);
    expect((await deliver(batchOf([message], 2))).ackAll).toBe(true);
    expect(await requestRows([message.id])).toHaveLength(1);
  });
});
