/**
 * The consumer's queue handler inside workerd, against a real Postgres through the Neon driver.
 * Outcomes asserted: rows written, acks and retries.
 */
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { retryDelaySeconds } from "../../../shared/backoff.ts";
import type { UsageMessageV1 } from "../../../shared/usage-message.ts";
import { createKey, createUser } from "../../support/db-fixtures.ts";
import { sampleMessage } from "../../support/samples.ts";
import { useTestPool } from "../test-pool.ts";
import { analyticsRows, batchOf, deliver } from "./helpers.ts";

const pool = useTestPool();
let userId: string;
let keyId: string;

beforeAll(async () => {
  userId = await createUser(pool);
  keyId = (await createKey(pool, userId, "playground")).id;
});

describe("usage batches", () => {
  it("writes one enriched analytics row per message and acks the batch", async () => {
    const messages: UsageMessageV1[] = [
      sampleMessage({ api_key_id: keyId }),
      sampleMessage({ api_key_id: null, access: "unauthenticated", model: null, status_code: 401 }),
      sampleMessage({ api_key_id: crypto.randomUUID(), access: "unknown_api_key" }),
    ];
    const result = await deliver(batchOf(messages));
    expect(result.ackAll).toBe(true);
    expect(result.retryBatch.retry).toBe(false);
    expect(result.retryMessages).toEqual([]);

    const rows = await analyticsRows(pool, messages.map((m) => m.event_id));
    expect(rows).toHaveLength(3);
    const byEvent = new Map(rows.map((r) => [r.event_id, r]));
    expect(byEvent.get(messages[0]!.event_id)).toMatchObject({ user_id: userId, api_key_id: keyId, access_source: "api_key", request_origin: "frontend", prompt_tokens: "3" });
    expect(byEvent.get(messages[1]!.event_id)).toMatchObject({ user_id: null, api_key_id: null, access_source: "unauthenticated" });
    expect(byEvent.get(messages[2]!.event_id)).toMatchObject({ user_id: null, api_key_id: null, access_source: "unknown_api_key" });
  });

  it("a redelivered batch changes nothing", async () => {
    const messages = [sampleMessage({ api_key_id: keyId }), sampleMessage({ api_key_id: keyId })];
    expect((await deliver(batchOf(messages))).ackAll).toBe(true);
    expect((await deliver(batchOf(messages, 2))).ackAll).toBe(true);
    expect(await analyticsRows(pool, messages.map((m) => m.event_id))).toHaveLength(2);
  });

  it("a poison message beside good ones: good ones committed, poison dead-lettered and acked", async () => {
    const good = sampleMessage({ api_key_id: keyId });
    const batch = batchOf([good, { v: 1, event_id: "nope" }, "not even json"]);
    const result = await deliver(batch);
    expect(result.ackAll).toBe(true);
    expect(await analyticsRows(pool, [good.event_id])).toHaveLength(1);
    const ids = batch.messages.slice(1).map((m) => m.id);
    const { rows } = await pool.query<{ message_id: string; reason: string; body: string }>(
      "SELECT message_id, reason, body FROM dead_letters WHERE message_id = ANY($1) ORDER BY message_id",
      [ids],
    );
    expect(rows.map((r) => r.message_id).sort()).toEqual([...ids].sort());
    expect(rows.every((r) => r.reason.startsWith("malformed usage message"))).toBe(true);
  });

  it("a database outage retries every message with backoff and writes nothing", async () => {
    const messages = [sampleMessage({ api_key_id: keyId }), sampleMessage()];
    const down = { ...env, DATABASE_URL: "postgres://postgres@127.0.0.1:9/none" };
    const batch = batchOf(messages, 3);
    // getQueueResult reports which messages were retried but not their delay: watch the calls.
    const retries = batch.messages.map((m) => vi.spyOn(m, "retry"));
    const result = await deliver(batch, down);
    expect(result.ackAll).toBe(false);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages).toHaveLength(2);
    for (const spy of retries) expect(spy).toHaveBeenCalledWith({ delaySeconds: retryDelaySeconds(3) });
    expect(await analyticsRows(pool, messages.map((m) => m.event_id))).toHaveLength(0);

    // When the database is back, the same messages go through exactly once.
    expect((await deliver(batchOf(messages, 4))).ackAll).toBe(true);
    expect(await analyticsRows(pool, messages.map((m) => m.event_id))).toHaveLength(2);
  });

  it("messages that exhausted their retries are stored from the dead-letter queue", async () => {
    const msg = sampleMessage();
    const batch = batchOf([msg], 6, env.DEAD_LETTER_QUEUE);
    expect((await deliver(batch)).ackAll).toBe(true);
    const { rows } = await pool.query<{ queue: string; body: string; attempts: number }>("SELECT queue, body, attempts FROM dead_letters WHERE message_id = $1", [batch.messages[0]!.id]);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.queue).toBe("tollgate-usage-dlq");
    expect(JSON.parse(rows[0]!.body).event_id).toBe(msg.event_id);
  });
});
