/**
 * Exactly-once charging under at-least-once delivery, inside workerd against a real Postgres:
 * redelivery, concurrent overlapping deliveries, a failure part-way through the transaction, and
 * poison beside good messages. Asserted as ledger rows, balances, acks and retries.
 */
import { beforeAll, describe, expect, it, vi } from "vitest";
import { retryDelaySeconds } from "../../../shared/backoff.ts";
import type { UsageMessageV1 } from "../../../shared/usage-message.ts";
import { checkpointBalance, ledgerBalance, usageRows } from "../../support/db-fixtures.ts";
import { useTestPool } from "../test-pool.ts";
import { analyticsRows, batchOf, deliver, deliverForResult, exact, keyFor, pricedModel, usage, usageChargesFor, userWithBalance } from "./helpers.ts";

const pool = useTestPool();
let alias: string;

beforeAll(async () => {
  ({ alias } = await pricedModel(pool, [{ purpose: "realtime", input: "0.00001", output: "0.00003" }]));
});

describe("redelivery", () => {
  it("the same batch delivered twice leaves the ledger and the balance as after the first", async () => {
    const userId = await userWithBalance(pool, "10");
    const keyId = await keyFor(pool, userId);
    const messages = [usage(alias, keyId, 1000, 500), usage(alias, keyId, 2000, 0)];

    const first = await deliverForResult(batchOf(messages));
    expect(first.queue.ackAll).toBe(true);
    expect(first.result.ok && [first.result.outcome.recorded, first.result.outcome.charged]).toEqual([2, 2]);
    const ledgerAfterFirst = await usageRows(pool, userId);
    expect(exact(await checkpointBalance(pool, userId))).toBe("9.955");

    const again = await deliverForResult(batchOf(messages, 2));
    expect(again.queue.ackAll).toBe(true);
    expect(again.result.ok && [again.result.outcome.recorded, again.result.outcome.alreadyRecorded, again.result.outcome.charged]).toEqual([0, 2, 0]);
    expect(await usageRows(pool, userId)).toEqual(ledgerAfterFirst);
    expect(exact(await checkpointBalance(pool, userId))).toBe("9.955");
  });

  it("a message repeated inside one batch is charged once", async () => {
    const userId = await userWithBalance(pool, "10");
    const msg = usage(alias, await keyFor(pool, userId), 1000, 500);
    expect((await deliver(batchOf([msg, msg, { ...msg }]))).ackAll).toBe(true);
    expect(await usageRows(pool, userId)).toHaveLength(1);
    expect(exact(await checkpointBalance(pool, userId))).toBe("9.975");
  });

  it("two concurrent deliveries of overlapping batches never double charge", async () => {
    const users = await Promise.all([0, 1].map(() => userWithBalance(pool, "100")));
    const keys = await Promise.all(users.map((u) => keyFor(pool, u)));
    for (let round = 0; round < 4; round++) {
      // 12 distinct requests alternating between two users; A holds 0–7, B holds 4–11.
      const messages = Array.from({ length: 12 }, (_, i) => usage(alias, keys[i % 2]!, 1000, 500));
      const a = batchOf(messages.slice(0, 8));
      const b = batchOf(messages.slice(4, 12).reverse());
      const [ra, rb] = await Promise.all([deliver(a), deliver(b)]);
      expect([ra.ackAll, rb.ackAll]).toEqual([true, true]);
      expect(await usageChargesFor(pool, messages.map((m) => m.event_id))).toHaveLength(12);
    }
    // 4 rounds × 6 requests per user × 0.025 = 0.6 each.
    for (const u of users) {
      expect(await usageRows(pool, u)).toHaveLength(24);
      expect(exact(await checkpointBalance(pool, u))).toBe("99.4");
      expect(exact(await ledgerBalance(pool, u))).toBe("99.4");
    }
  });
});

/**
 * Makes the transaction fail at its last step (the checkpoint fold), after the analytics and
 * ledger rows were inserted, for one user only: a trigger the test creates and drops, so no hook
 * exists in the product code.
 */
async function failCheckpointFoldFor(userId: string): Promise<() => Promise<void>> {
  const name = `test_fail_fold_${userId.replace(/-/g, "")}`;
  await pool.query(`CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'injected failure after the inserts'; END $$`);
  await pool.query(`CREATE TRIGGER ${name} BEFORE UPDATE ON user_balance_checkpoints
    FOR EACH ROW WHEN (NEW.user_id = '${userId}'::uuid) EXECUTE FUNCTION ${name}()`);
  return async () => {
    await pool.query(`DROP TRIGGER ${name} ON user_balance_checkpoints`);
    await pool.query(`DROP FUNCTION ${name}()`);
  };
}

describe("failure part-way", () => {
  it("the database failing after the inserts: everything retried with backoff, nothing written, then exactly once", async () => {
    const bystander = await userWithBalance(pool, "10");
    const victim = await userWithBalance(pool, "10");
    const messages: UsageMessageV1[] = [usage(alias, await keyFor(pool, bystander), 1000, 500), usage(alias, await keyFor(pool, victim), 1000, 500)];
    const ids = messages.map((m) => m.event_id);
    const restore = await failCheckpointFoldFor(victim);
    try {
      const batch = batchOf(messages, 2);
      const retries = batch.messages.map((m) => vi.spyOn(m, "retry"));
      const result = await deliver(batch);
      expect(result.ackAll).toBe(false);
      expect(result.explicitAcks).toEqual([]);
      expect(result.retryMessages).toHaveLength(2);
      for (const spy of retries) expect(spy).toHaveBeenCalledWith({ delaySeconds: retryDelaySeconds(2) });
      // The whole transaction rolled back: not even the bystander's rows or charge.
      expect(await analyticsRows(pool, ids)).toEqual([]);
      expect(await usageChargesFor(pool, ids)).toEqual([]);
      expect(exact(await checkpointBalance(pool, bystander))).toBe("10");
      expect(exact(await checkpointBalance(pool, victim))).toBe("10");
    } finally {
      await restore();
    }

    const retried = await deliver(batchOf(messages, 3));
    expect(retried.ackAll).toBe(true);
    expect(await analyticsRows(pool, ids)).toHaveLength(2);
    expect(await usageChargesFor(pool, ids)).toHaveLength(2);
    expect(exact(await checkpointBalance(pool, bystander))).toBe("9.975");
    expect(exact(await checkpointBalance(pool, victim))).toBe("9.975");
    // And a late duplicate of the failed delivery changes nothing.
    expect((await deliver(batchOf(messages, 4))).ackAll).toBe(true);
    expect(exact(await checkpointBalance(pool, victim))).toBe("9.975");
  });
});

describe("poison beside good messages", () => {
  it("good ones committed and charged, poison dead-lettered, all acked", async () => {
    const userId = await userWithBalance(pool, "10");
    const good = usage(alias, await keyFor(pool, userId), 1000, 500);
    const batch = batchOf([good, { v: 1, event_id: "nope" }, "not even json"]);

    const result = await deliver(batch);
    expect(result.ackAll).toBe(true);
    expect(result.retryMessages).toEqual([]);
    expect(await usageChargesFor(pool, [good.event_id])).toEqual([{ source_id: `usage:${good.event_id}`, amount: "0.025" }]);
    expect(exact(await checkpointBalance(pool, userId))).toBe("9.975");

    const poisonIds = batch.messages.slice(1).map((m) => m.id);
    const { rows } = await pool.query<{ message_id: string; reason: string }>("SELECT message_id, reason FROM dead_letters WHERE message_id = ANY($1)", [poisonIds]);
    expect(rows.map((r) => r.message_id).sort()).toEqual([...poisonIds].sort());
  });

  it("what a repair makes storable is stored and charged, never dead-lettered: NUL stripped, absurd counts clamped and flagged", async () => {
    const userId = await userWithBalance(pool, "10");
    const key = await keyFor(pool, userId);
    const nulModel = { ...usage(alias, key, 1000, 500), finish_reason: "st\u0000op", user_agent: "ua\u0001\u0000x", usage_source: "estimated", client_disconnected: true, gateway_cost: "0.999" };
    const nulAlias = usage(`${alias}\u0000`, null, 0, 0);
    const huge = usage(alias, key, 1000, 0);
    const hugeBody = { ...huge, usage: { ...huge.usage, prompt_tokens: 1e16, total_tokens: 1e16 } };
    const batch = batchOf([nulModel, nulAlias, hugeBody]);

    const result = await deliver(batch);
    expect(result.ackAll).toBe(true);
    const ids = batch.messages.map((m) => m.id);
    expect((await pool.query("SELECT 1 FROM dead_letters WHERE message_id = ANY($1)", [ids])).rowCount).toBe(0);
    const { rows } = await pool.query<{ event_id: string; model: string | null; finish_reason: string | null; user_agent: string | null; prompt_tokens: string; usage_source: string; client_disconnected: boolean; gateway_cost: string | null; total_cost: string | null }>(
      "SELECT event_id::text, model, finish_reason, user_agent, prompt_tokens::text, usage_source, client_disconnected, gateway_cost::text, total_cost::text FROM http_analytics WHERE event_id = ANY($1::uuid[]) ORDER BY event_id",
      [[nulModel.event_id, nulAlias.event_id, huge.event_id]],
    );
    const row = (id: string) => rows.find((r) => r.event_id === id)!;
    // usage_source and client_disconnected reach the row (absent: upstream, false).
    expect(row(nulModel.event_id)).toMatchObject({ finish_reason: "stop", user_agent: "uax", usage_source: "estimated", client_disconnected: true });
    // The gateway's price disagreed (a tariff changed in between): the row shows both, the ledger charged the consumer's.
    expect(row(nulModel.event_id).gateway_cost).toBe("0.999");
    expect(exact(row(nulModel.event_id).total_cost!)).toBe("0.025");
    expect(row(nulAlias.event_id)).toMatchObject({ model: alias, usage_source: "upstream", client_disconnected: false });
    expect(row(huge.event_id)).toMatchObject({ prompt_tokens: "100000000", usage_source: "clamped" });
    // Both billable records were charged (1000 + 500 tokens, and the clamped prompt).
    const charges = await usageChargesFor(pool, [nulModel.event_id, huge.event_id]);
    expect(charges.map((c) => c.source_id).sort()).toEqual([`usage:${nulModel.event_id}`, `usage:${huge.event_id}`].sort());
    expect(exact(charges.find((c) => c.source_id === `usage:${nulModel.event_id}`)!.amount)).toBe("0.025");
  });
});
