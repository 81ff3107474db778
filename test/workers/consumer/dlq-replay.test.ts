/**
 * POST /admin/dlq/replay inside workerd: stored dead letters go back onto the real (local) usage
 * queue, are consumed by this same worker, and charge exactly once however often they are replayed.
 */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { checkpointBalance } from "../../support/db-fixtures.ts";
import { useTestPool } from "../test-pool.ts";
import { analyticsRows, exact, keyFor, pricedModel, usage, usageChargesFor, userWithBalance } from "./helpers.ts";

const URL_ = "http://consumer.test/admin/dlq/replay";
const pool = useTestPool();


const replay = (token: string | null = env.ADMIN_TOKEN, method = "POST") =>
  SELF.fetch(URL_, { method, headers: token === null ? {} : { authorization: `Bearer ${token}` } });

async function storeDeadLetter(body: string): Promise<string> {
  const { rows } = await pool.query<{ id: string }>(
    "INSERT INTO dead_letters (queue, message_id, body, reason, attempts) VALUES ('tollgate-usage-dlq', $1, $2, 'test', 6) RETURNING id::text AS id",
    [`dl-${crypto.randomUUID()}`, body],
  );
  return rows[0]!.id;
}

async function replayedAt(id: string): Promise<string | null> {
  const { rows } = await pool.query<{ replayed_at: string | null }>("SELECT replayed_at::text AS replayed_at FROM dead_letters WHERE id = $1", [id]);
  return rows[0]!.replayed_at;
}

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("dead-letter replay endpoint", () => {
  it("refuses a missing or wrong token, other paths and other methods", async () => {
    expect((await replay(null)).status).toBe(401);
    const wrong = await replay("not-the-admin-token-at-all");
    expect(wrong.status).toBe(401);
    expect(JSON.stringify(await wrong.json())).not.toContain(env.ADMIN_TOKEN);
    expect((await replay(env.ADMIN_TOKEN, "GET")).status).toBe(405);
    expect((await SELF.fetch("http://consumer.test/", { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } })).status).toBe(404);
  });

  it("re-enqueues valid dead letters, leaves malformed ones, and charges once however often it runs", async () => {
    const { alias } = await pricedModel(pool, [{ purpose: "realtime", input: "0.00001", output: "0.00003" }]);
    const userId = await userWithBalance(pool, "10");
    const msg = usage(alias, await keyFor(pool, userId), 1000, 500);
    const goodId = await storeDeadLetter(JSON.stringify(msg));
    const badId = await storeDeadLetter("{not json");

    const res = await replay();
    expect(res.status).toBe(200);
    const counts = (await res.json()) as { replayed: number; malformed: number; more: boolean };
    // Other test files may have stored dead letters too: at least ours were handled.
    expect(counts.replayed).toBeGreaterThanOrEqual(1);
    expect(counts.malformed).toBeGreaterThanOrEqual(1);
    expect(counts.more).toBe(false);
    expect(await replayedAt(goodId)).not.toBeNull();
    expect(await replayedAt(badId)).toBeNull();

    // The local queue delivers it to this worker's queue handler, which records and charges it.
    const charges = await eventually(() => usageChargesFor(pool, [msg.event_id]), (rows) => rows.length > 0);
    expect(charges).toEqual([{ source_id: `usage:${msg.event_id}`, amount: "0.025" }]);
    expect(await analyticsRows(pool, [msg.event_id])).toHaveLength(1);

    // Replaying again sends nothing of ours (already marked)…
    const marked = await replayedAt(goodId);
    expect((await replay()).status).toBe(200);
    expect(await replayedAt(goodId)).toBe(marked);

    // …and a forced second replay of the same message is harmless: no second charge.
    await pool.query("UPDATE dead_letters SET replayed_at = NULL WHERE id = $1", [goodId]);
    expect((await replay()).status).toBe(200);
    await eventually(() => replayedAt(goodId), (v) => v !== null);
    await new Promise((r) => setTimeout(r, 2500)); // longer than the queue's batch timeout
    expect(await usageChargesFor(pool, [msg.event_id])).toHaveLength(1);
    expect(exact(await checkpointBalance(pool, userId))).toBe("9.975");
  });

  it("a usage bundle that exhausted its retries is replayed whole, four large bundles across several sends", async () => {
    const { alias } = await pricedModel(pool, [{ purpose: "realtime", input: "0.00001", output: "0" }]);
    const userId = await userWithBalance(pool, "10");
    const key = await keyFor(pool, userId);
    // Each bundle ~89 KB (long user agents), so the four cannot travel in one sendBatch (256 KB;
    // the local queue refuses over 288 KB).
    const bundles = Array.from({ length: 4 }, () => ({
      kind: "usage_bundle",
      v: 1,
      messages: Array.from({ length: 80 }, () => usage(alias, key, 1000, 0, { user_agent: "u".repeat(500) })),
    }));
    const ids = await Promise.all(bundles.map((b) => storeDeadLetter(JSON.stringify(b))));
    expect((await replay()).status).toBe(200);
    for (const id of ids) expect(await replayedAt(id)).not.toBeNull();

    const events = bundles.flatMap((b) => b.messages.map((m) => m.event_id));
    const charges = await eventually(() => usageChargesFor(pool, events), (rows) => rows.length === events.length);
    expect(charges).toHaveLength(320);
    expect(exact(await checkpointBalance(pool, userId))).toBe("6.8"); // 10 − 320 × 0.01
  });
});
