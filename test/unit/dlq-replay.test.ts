/**
 * Dead-letter replay: the paging over `dead_letters` against a fresh real Postgres (or embedded),
 * and the `npm run dlq:replay` client against a fake endpoint.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { replayAll } from "../../dev/dlq-replay.ts";
import { replayableBody, replayDeadLetters, SEND_BATCH_MAX_BYTES, sendBatches, type ReplayableMessage } from "../../workers/consumer/src/dlq-replay.ts";
import { sampleMessage, sampleResponseMessage } from "../support/samples.ts";
import { createTestDatabase, type TestDatabase } from "../support/test-database.ts";

let db: TestDatabase;
let client: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase("dlq_replay");
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
}, 60_000);

afterAll(async () => {
  await client?.end();
  await db?.drop();
});

async function store(bodies: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const body of bodies) {
    const { rows } = await client.query<{ id: string }>(
      "INSERT INTO dead_letters (queue, message_id, body, reason) VALUES ('tollgate-usage-dlq', $1, $2, 'test') RETURNING id::text AS id",
      [crypto.randomUUID(), body],
    );
    ids.push(rows[0]!.id);
  }
  return ids;
}

describe("replayableBody", () => {
  it("accepts a stored usage message and nothing else", () => {
    const msg = sampleMessage();
    expect(replayableBody(JSON.stringify(msg))).toEqual(msg);
    expect(replayableBody("{not json")).toBeNull();
    expect(replayableBody(JSON.stringify({ ...msg, v: 9 }))).toBeNull();
    // What a repair makes storable replays repaired (NUL stripped, an absurd count clamped and flagged).
    expect(replayableBody(JSON.stringify({ ...msg, user_agent: "a\u0000b" }))).toEqual({ ...msg, user_agent: "ab" });
    expect(replayableBody(JSON.stringify({ ...msg, usage: { ...msg.usage, prompt_tokens: 1e16 } }))).toEqual({ ...msg, usage: { ...msg.usage, prompt_tokens: 100_000_000 }, usage_source: "clamped" });
    expect(replayableBody(JSON.stringify({ ...msg, usage: { ...msg.usage, prompt_tokens: "12" } }))).toBeNull();
  });

  it("accepts a usage bundle that exhausted its retries, keeping only its storable records", () => {
    const records = [sampleMessage(), sampleMessage()];
    const bundle = { kind: "usage_bundle", v: 1, messages: [records[0], { v: 1, event_id: "nope" }, records[1]] };
    expect(replayableBody(JSON.stringify(bundle))).toEqual({ kind: "usage_bundle", v: 1, messages: records });
    expect(replayableBody(JSON.stringify({ kind: "usage_bundle", v: 1, messages: [{ v: 1 }] }))).toBeNull();
    expect(replayableBody(JSON.stringify({ kind: "usage_bundle", v: 1, messages: "x" }))).toBeNull();
  });

  it("accepts a valid response message too (stored responses share the queue)", () => {
    const response = sampleResponseMessage();
    expect(replayableBody(JSON.stringify(response))).toEqual(response);
    expect(replayableBody(JSON.stringify({ ...response, id: "bad" }))).toBeNull();
  });
});

describe("sendBatches", () => {
  it("keeps each sendBatch within 100 messages and the byte limit, in order", () => {
    const small = Array.from({ length: 250 }, () => sampleMessage());
    expect(sendBatches(small).map((b) => b.length)).toEqual([100, 100, 50]);
    const big = Array.from({ length: 5 }, () => ({ kind: "usage_bundle", v: 1, pad: "x".repeat(120_000) }));
    const batches = sendBatches(big);
    expect(batches.map((b) => b.length)).toEqual([2, 2, 1]);
    for (const b of batches) expect(JSON.stringify(b).length).toBeLessThanOrEqual(SEND_BATCH_MAX_BYTES);
    expect(batches.flat()).toEqual(big);
    expect(sendBatches([])).toEqual([]);
  });
});

describe("replayDeadLetters", () => {
  it("sends valid rows in pages of at most 100, marks them, leaves malformed ones, and continues from a cursor", async () => {
    const good = Array.from({ length: 150 }, () => sampleMessage());
    const ids = await store([...good.slice(0, 75).map((m) => JSON.stringify(m)), "garbage", ...good.slice(75).map((m) => JSON.stringify(m))]);
    const sent: ReplayableMessage[][] = [];
    const send = async (messages: ReplayableMessage[]) => {
      sent.push(messages);
    };

    const first = await replayDeadLetters(client, send, 120);
    expect(first).toMatchObject({ replayed: 119, malformed: 1, more: true });
    expect(sent.every((page) => page.length <= 100)).toBe(true);
    const second = await replayDeadLetters(client, send, 120, first.cursor);
    expect(second).toMatchObject({ replayed: 31, malformed: 0, more: false });
    expect(sent.flat().flatMap((m) => ("kind" in m ? [] : [m.event_id]))).toEqual(good.map((m) => m.event_id));

    const { rows } = await client.query<{ id: string; replayed: boolean }>("SELECT id::text AS id, replayed_at IS NOT NULL AS replayed FROM dead_letters WHERE id = ANY($1::bigint[]) ORDER BY id", [ids]);
    expect(rows.filter((r) => !r.replayed).map((r) => r.id)).toEqual([ids[75]]);

    // Nothing left to send; the malformed row is read again but stays.
    sent.length = 0;
    expect(await replayDeadLetters(client, send)).toMatchObject({ replayed: 0, malformed: 1, more: false });
    expect(sent).toEqual([]);
  });

  it("a failed send marks nothing", async () => {
    const [id] = await store([JSON.stringify(sampleMessage())]);
    await expect(
      replayDeadLetters(client, async () => {
        throw new Error("queue unavailable");
      }),
    ).rejects.toThrow("queue unavailable");
    const { rows } = await client.query<{ replayed_at: string | null }>("SELECT replayed_at FROM dead_letters WHERE id = $1", [id]);
    expect(rows[0]!.replayed_at).toBeNull();
    expect((await replayDeadLetters(client, async () => undefined)).replayed).toBe(1);
  });
});

describe("npm run dlq:replay (replayAll)", () => {
  it("follows the cursor until nothing is left and sums the counts", async () => {
    const calls: string[] = [];
    const answers = [
      { replayed: 90, malformed: 10, more: true, cursor: "100" },
      { replayed: 5, malformed: 0, more: false, cursor: "105" },
    ];
    const fake = (async (input: URL | RequestInfo, init?: RequestInit) => {
      calls.push(`${String(input)} ${new Headers(init?.headers).get("authorization")}`);
      return Response.json(answers.shift());
    }) as typeof fetch;
    const lines: string[] = [];
    const total = await replayAll("http://127.0.0.1:9", "secret-token-0123456789", (l) => lines.push(l), fake);
    expect(total).toEqual({ replayed: 95, malformed: 10, more: false });
    expect(calls).toEqual([
      "http://127.0.0.1:9/admin/dlq/replay?limit=1000 Bearer secret-token-0123456789",
      "http://127.0.0.1:9/admin/dlq/replay?limit=1000&after=100 Bearer secret-token-0123456789",
    ]);
    expect(lines).toHaveLength(2);
  });

  it("reports a refusal without retrying", async () => {
    const fake = (async () => new Response('{"error":{"code":"invalid_api_key"}}', { status: 401 })) as typeof fetch;
    await expect(replayAll("http://127.0.0.1:9", "wrong", () => {}, fake)).rejects.toThrow(/401/);
  });
});
