/**
 * Usage bundles (many usage records in one queue message, as the gateway's outbox sends them)
 * through the consumer's real entry in workerd, on a real Postgres: every record written and
 * charged exactly once, a bad record dead-lettered alone, a malformed bundle dead-lettered whole,
 * redelivery harmless, and a batch too large for one write split without changing the outcome.
 */
import { describe, expect, it } from "vitest";
import { Money, moneyText } from "../../../shared/pricing.ts";
import { usageBundles, type UsageMessageV1 } from "../../../shared/usage-message.ts";
import { analyticsRows, batchOf, deliver, exact, keyFor, pricedModel, usage, usageChargesFor, userWithBalance } from "./helpers.ts";
import { useTestPool } from "../test-pool.ts";

const pool = useTestPool();


async function balanceOf(userId: string): Promise<string> {
  const { rows } = await pool.query<{ balance: string }>("SELECT balance::text AS balance FROM user_balance_checkpoints WHERE user_id = $1", [userId]);
  return exact(rows[0]!.balance)!;
}

async function deadLetters(ids: string[]) {
  const { rows } = await pool.query<{ message_id: string; reason: string; body: string }>(
    "SELECT message_id, reason, body FROM dead_letters WHERE message_id = ANY($1) ORDER BY message_id",
    [ids],
  );
  return rows;
}

describe("usage bundles", () => {
  it("every record is written and charged once; a bad record is dead-lettered alone; redelivery changes nothing", async () => {
    const model = await pricedModel(pool, [{ purpose: "realtime", input: "0.000001", output: "0.000002" }]);
    const userId = await userWithBalance(pool, "10");
    const key = await keyFor(pool, userId);
    const records: UsageMessageV1[] = Array.from({ length: 5 }, () => usage(model.alias, key, 1000, 500)); // 0.002 each
    const bundle = { kind: "usage_bundle", v: 1, messages: [records[0], records[1], { v: 1, event_id: "not-a-uuid" }, ...records.slice(2)] };
    const batch = batchOf([bundle]);
    const result = await deliver(batch);
    expect(result.ackAll).toBe(true);
    expect(result.retryMessages).toEqual([]);

    const ids = records.map((r) => r.event_id);
    expect(await analyticsRows(pool, ids)).toHaveLength(5);
    expect((await usageChargesFor(pool, ids)).map((c) => exact(c.amount))).toEqual(Array(5).fill("0.002"));
    expect(await balanceOf(userId)).toBe("9.99");
    const letters = await deadLetters([`${batch.messages[0]!.id}#2`]);
    expect(letters).toHaveLength(1);
    expect(letters[0]!.reason).toMatch(/^malformed usage message/);
    expect(JSON.parse(letters[0]!.body)).toEqual({ v: 1, event_id: "not-a-uuid" }); // the record alone, replayable on its own

    // The same bundle again (a redelivery): acked, nothing new.
    expect((await deliver(batchOf([bundle], 2))).ackAll).toBe(true);
    expect(await usageChargesFor(pool, ids)).toHaveLength(5);
    expect(await balanceOf(userId)).toBe("9.99");
  });

  it("a malformed bundle is dead-lettered whole and acked; single messages beside it are still written", async () => {
    const single = usage(null, null, 0, 0);
    const broken = { kind: "usage_bundle", v: 1, messages: "not a list" };
    const batch = batchOf([broken, single]);
    expect((await deliver(batch)).ackAll).toBe(true);
    expect(await analyticsRows(pool, [single.event_id])).toHaveLength(1);
    const letters = await deadLetters([batch.messages[0]!.id]);
    expect(letters.map((l) => l.reason)).toEqual([expect.stringMatching(/^malformed usage bundle/)]);
  });

  it("a batch of bundles larger than one write (1,100 records) is written whole, each charged once, the balance exact", async () => {
    const model = await pricedModel(pool, [{ purpose: "realtime", input: "0.000001", output: "0" }]);
    const users = await Promise.all([userWithBalance(pool, "5"), userWithBalance(pool, "5")]);
    const keys = await Promise.all(users.map((u) => keyFor(pool, u)));
    // 1,100 records, alternating users; record i costs i × 0.000001.
    const records = Array.from({ length: 1100 }, (_, i) => usage(model.alias, keys[i % 2]!, i + 1, 0));
    const bundles = usageBundles(records);
    expect(bundles.length).toBeGreaterThanOrEqual(11);
    const result = await deliver(batchOf(bundles));
    expect(result.ackAll).toBe(true);

    const ids = records.map((r) => r.event_id);
    expect(await analyticsRows(pool, ids)).toHaveLength(1100);
    expect(await usageChargesFor(pool, ids)).toHaveLength(1100);
    // Odd i+1 (user 0): Σ 1, 3, …, 1099 = 550² = 302,500; even (user 1): Σ 2, 4, …, 1100 = 550 × 551 = 303,050.
    expect(await balanceOf(users[0]!)).toBe(moneyText(new Money("5").minus(new Money("0.3025"))));
    expect(await balanceOf(users[1]!)).toBe(moneyText(new Money("5").minus(new Money("0.30305"))));

    // Delivered again: nothing changes.
    expect((await deliver(batchOf(bundles, 2))).ackAll).toBe(true);
    expect(await usageChargesFor(pool, ids)).toHaveLength(1100);
    expect(await balanceOf(users[0]!)).toBe(moneyText(new Money("5").minus(new Money("0.3025"))));
  });
});
