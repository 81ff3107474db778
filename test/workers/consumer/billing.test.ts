/**
 * Billing through the consumer inside workerd, against a real Postgres through the Neon driver:
 * the reference's integration tests (test_batcher_*) plus the cases Tollgate adds. Asserted as a
 * user sees them: ledger rows, balances (exact decimal text), analytics rows, acks.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { balanceCrossing } from "../../../shared/pricing.ts";
import { checkpointBalance, grantCredits, ledgerBalance, usageRows } from "../../support/db-fixtures.ts";
import { useTestPool } from "../test-pool.ts";
import {
  analyticsRows,
  batchInfo,
  batchOf,
  deliver,
  deliverForResult,
  exact,
  keyFor,
  pricedModel,
  usage,
  usageChargesFor,
  userWithBalance,
} from "./helpers.ts";

const pool = useTestPool();


afterEach(() => {
  vi.restoreAllMocks();
});

const REALTIME = { purpose: "realtime", input: "0.00001", output: "0.00003" } as const;

describe("charges (the reference's test_batcher_*)", () => {
  it("charges the realtime price and records it on the analytics row", async () => {
    const { alias, provider } = await pricedModel(pool, [REALTIME]);
    const userId = await userWithBalance(pool, "10.00");
    const keyId = await keyFor(pool, userId);
    const msg = usage(alias, keyId, 1000, 500);

    const result = await deliver(batchOf([msg]));
    expect(result.ackAll).toBe(true);

    // (1000 × 0.00001) + (500 × 0.00003) = 0.025
    const rows = await usageRows(pool, userId);
    expect(rows).toEqual([
      { source_id: `usage:${msg.event_id}`, amount: "0.025", api_key_id: keyId, fusillade_batch_id: null, description: `API usage: ${alias} (1000 input + 500 output tokens)` },
    ]);
    expect(exact(await checkpointBalance(pool, userId))).toBe("9.975");
    expect(exact(await ledgerBalance(pool, userId))).toBe("9.975");

    const [row] = await analyticsRows(pool, [msg.event_id]);
    expect(row).toMatchObject({ user_id: userId, api_key_id: keyId, provider_name: provider, request_origin: "api" });
    expect([row!.input_price_per_token, row!.output_price_per_token, row!.total_cost, row!.uncached_cost].map(exact)).toEqual(["0.00001", "0.00003", "0.025", "0.025"]);
  });

  it("a cached request is charged to the exact decimal with the cache tariff valid when it ran", async () => {
    const { alias, modelId } = await pricedModel(pool, [REALTIME]);
    // The cache price changed an hour ago: the old row is closed, the new one is in force.
    await pool.query(
      `INSERT INTO model_cache_tariffs (deployed_model_id, read_multiplier, write_multiplier_5m, write_multiplier_1h, valid_from, valid_until)
       VALUES ($1, 0.5, 1.5, NULL, now() - interval '1 day', now() - interval '1 hour'),
              ($1, 0.1, 1.25, 2, now() - interval '1 hour', NULL)`,
      [modelId],
    );
    const userId = await userWithBalance(pool, "10.00");
    const keyId = await keyFor(pool, userId);
    const cache = { read_tokens: 6000, write_5m_tokens: 1000, write_1h_tokens: 500, write_24h_tokens: 0 };
    const now = usage(alias, keyId, 10_000, 200, { cache });
    const earlier = usage(alias, keyId, 10_000, 200, { cache, timestamp: new Date(Date.now() - 2 * 3_600_000).toISOString() });
    // Writes alone (11,000) exceed the prompt: the split is not trusted, list price.
    const bogus = usage(alias, keyId, 10_000, 200, { cache: { read_tokens: 0, write_5m_tokens: 11_000, write_1h_tokens: 0, write_24h_tokens: 0 } });

    expect((await deliver(batchOf([now, earlier, bogus]))).ackAll).toBe(true);

    const costs = new Map((await analyticsRows(pool, [now.event_id, earlier.event_id, bogus.event_id])).map((r) => [r.event_id, [exact(r.total_cost), exact(r.uncached_cost)]]));
    // now: uncached 2500 × 0.00001 = 0.025; read 6000 × 0.00001 × 0.1 = 0.006; 5m 1000 × 0.00001 × 1.25
    // = 0.0125; 1h 500 × 0.00001 × 2 = 0.01; output 200 × 0.00003 = 0.006 → 0.0595 (list 0.106)
    expect(costs.get(now.event_id)).toEqual(["0.0595", "0.106"]);
    // earlier (old row, 1h tier disabled → list): 0.025 + 0.03 + 0.015 + 0.005 + 0.006 = 0.081
    expect(costs.get(earlier.event_id)).toEqual(["0.081", "0.106"]);
    expect(costs.get(bogus.event_id)).toEqual(["0.106", "0.106"]);
    expect(exact(await checkpointBalance(pool, userId))).toBe("9.7535"); // 10 − 0.0595 − 0.081 − 0.106
    expect(exact(await ledgerBalance(pool, userId))).toBe("9.7535");
  });

  it("batch and realtime keys pay their own tariffs, to the cent", async () => {
    const { alias } = await pricedModel(pool, [
      { purpose: "batch", input: "0.00005", output: "0.00010", completionWindow: "24h" },
      { purpose: "realtime", input: "0.00010", output: "0.00020" },
    ]);
    const userId = await userWithBalance(pool, "100.00");
    const batchKey = await keyFor(pool, userId, "batch");
    const realtimeKey = await keyFor(pool, userId, "realtime");
    const batchMsg = usage(alias, batchKey, 1000, 500, { batch: batchInfo({ completion_window: "24h" }) });
    const realtimeMsg = usage(alias, realtimeKey, 1000, 500);

    expect((await deliver(batchOf([batchMsg, realtimeMsg]))).ackAll).toBe(true);

    const charges = new Map((await usageRows(pool, userId)).map((r) => [r.source_id, exact(r.amount)]));
    expect(charges).toEqual(
      new Map([
        [`usage:${batchMsg.event_id}`, "0.1"],
        [`usage:${realtimeMsg.event_id}`, "0.2"],
      ]),
    );
    expect(exact(await checkpointBalance(pool, userId))).toBe("99.7");
    const rows = await analyticsRows(pool, [batchMsg.event_id]);
    expect(rows[0]!.request_origin).toBe("fusillade");
  });

  it("a batch key falls back to the realtime tariff when its model has no batch tariff", async () => {
    const { alias } = await pricedModel(pool, [{ purpose: "realtime", input: "0.00015", output: "0.00030" }]);
    const userId = await userWithBalance(pool, "100.00");
    const msg = usage(alias, await keyFor(pool, userId, "batch"), 1000, 500);

    expect((await deliver(batchOf([msg]))).ackAll).toBe(true);
    expect((await usageRows(pool, userId)).map((r) => exact(r.amount))).toEqual(["0.3"]);
    expect(exact(await checkpointBalance(pool, userId))).toBe("99.7");
  });

  it("no tariff: the request is recorded and nobody is charged", async () => {
    const { alias, provider } = await pricedModel(pool, []);
    const userId = await userWithBalance(pool, "100.00");
    const msg = usage(alias, await keyFor(pool, userId), 1000, 500);

    expect((await deliver(batchOf([msg]))).ackAll).toBe(true);
    expect(await usageRows(pool, userId)).toEqual([]);
    expect(exact(await checkpointBalance(pool, userId))).toBe("100");
    expect((await analyticsRows(pool, [msg.event_id]))[0]).toMatchObject({ user_id: userId, provider_name: provider, total_cost: null, input_price_per_token: null });
  });

  it("unauthenticated and unknown-key requests get an analytics row and no charge", async () => {
    const { alias } = await pricedModel(pool, [{ purpose: "realtime", input: "0.00010", output: "0.00020" }]);
    const anonymous = usage(alias, null, 1000, 500);
    const unknown = usage(alias, crypto.randomUUID(), 1000, 500, { access: "unknown_api_key" });

    expect((await deliver(batchOf([anonymous, unknown]))).ackAll).toBe(true);
    const rows = await analyticsRows(pool, [anonymous.event_id, unknown.event_id]);
    expect(rows.map((r) => [r.event_id, r.access_source, r.user_id]).sort()).toEqual(
      [
        [anonymous.event_id, "unauthenticated", null],
        [unknown.event_id, "unknown_api_key", null],
      ].sort(),
    );
    expect(await usageChargesFor(pool, [anonymous.event_id, unknown.event_id])).toEqual([]);
  });
});

describe("charges Tollgate adds", () => {
  it("a batch is priced at its creation time, with the tariff valid then", async () => {
    const { alias } = await pricedModel(pool, [
      { purpose: "batch", input: "0.00002", output: "0.00004", validFrom: "2025-01-01T00:00:00Z", validUntil: "2025-06-10T00:00:00Z" },
      { purpose: "batch", input: "0.00001", output: "0.00002", validFrom: "2025-06-10T00:00:00Z" },
    ]);
    const userId = await userWithBalance(pool, "1");
    const keyId = await keyFor(pool, userId, "batch");
    const batchId = crypto.randomUUID();
    const old = usage(alias, keyId, 1000, 500, { batch: batchInfo({ batch_id: batchId, completion_window: "24h", created_at: "2025-06-09T23:59:59.999999Z" }) });
    const current = usage(alias, keyId, 1000, 500);

    expect((await deliver(batchOf([old, current]))).ackAll).toBe(true);
    const amounts = new Map((await usageRows(pool, userId)).map((r) => [r.source_id, [exact(r.amount), r.fusillade_batch_id]]));
    expect(amounts.get(`usage:${old.event_id}`)).toEqual(["0.04", batchId]);
    expect(amounts.get(`usage:${current.event_id}`)).toEqual(["0.02", null]);
    expect(exact(await checkpointBalance(pool, userId))).toBe("0.94");
  });

  it("a key deleted after its request still pays", async () => {
    const { alias } = await pricedModel(pool, [REALTIME]);
    const userId = await userWithBalance(pool, "1");
    const keyId = await keyFor(pool, userId);
    await pool.query("UPDATE api_keys SET is_deleted = true, deleted_at = now() WHERE id = $1", [keyId]);

    expect((await deliver(batchOf([usage(alias, keyId, 1000, 500)]))).ackAll).toBe(true);
    expect(exact(await checkpointBalance(pool, userId))).toBe("0.975");
  });

  it("a zero cost writes no ledger row", async () => {
    const { alias } = await pricedModel(pool, [{ purpose: "realtime", input: "0", output: "0" }]);
    const userId = await userWithBalance(pool, "1");
    const msg = usage(alias, await keyFor(pool, userId), 1000, 500);

    expect((await deliver(batchOf([msg]))).ackAll).toBe(true);
    expect(await usageRows(pool, userId)).toEqual([]);
    expect(exact((await analyticsRows(pool, [msg.event_id]))[0]!.total_cost)).toBe("0");
  });

  it("tokens without a model are logged as an error and not charged", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const userId = await userWithBalance(pool, "1");
    const msg = usage(null, await keyFor(pool, userId), 1000, 500);

    expect((await deliver(batchOf([msg]))).ackAll).toBe(true);
    expect(await usageRows(pool, userId)).toEqual([]);
    expect(await analyticsRows(pool, [msg.event_id])).toHaveLength(1);
    expect(errors.mock.calls.map((c) => String(c[0]))).toEqual([expect.stringContaining(`usage ${msg.event_id} has 1000 prompt + 500 completion tokens but no model`)]);
  });

  it("many requests of one user in one batch: one fold, balance exact", async () => {
    const { alias } = await pricedModel(pool, [{ purpose: "realtime", input: "0.000001", output: "0.000003" }]);
    const userId = await userWithBalance(pool, "1");
    const keyId = await keyFor(pool, userId);
    const messages = Array.from({ length: 100 }, (_, i) => usage(alias, keyId, i, 2 * i));
    expect((await deliver(batchOf(messages))).ackAll).toBe(true);
    // Σ i × 0.000001 + 2i × 0.000003 = 0.000007 × Σ i = 0.000007 × 4950 = 0.03465 (i = 0 costs nothing)
    expect(await usageRows(pool, userId)).toHaveLength(99);
    expect(exact(await checkpointBalance(pool, userId))).toBe("0.96535");
    expect(exact(await ledgerBalance(pool, userId))).toBe("0.96535");
  });
});

describe("balance crossings", () => {
  it("depletion is published once; a batch that keeps it depleted does not re-publish; a top-up restores", async () => {
    const logs = vi.spyOn(console, "log").mockImplementation(() => undefined);
    const { alias } = await pricedModel(pool, [REALTIME]);
    const userId = await userWithBalance(pool, "0.01");
    const keyId = await keyFor(pool, userId);

    // 0.01 − 0.025 → −0.015: crossed.
    const first = await deliverForResult(batchOf([usage(alias, keyId, 1000, 500)]));
    expect(first.queue.ackAll).toBe(true);
    expect(first.result.ok && first.result.outcome.crossings).toEqual([{ userId, direction: "depleted", before: "0.01", after: "-0.015" }]);
    expect(exact(await checkpointBalance(pool, userId))).toBe("-0.015");
    expect(logs.mock.calls.filter((c) => String(c[0]).includes(userId))).toEqual([[`balance depleted for user ${userId}: 0.01 → -0.015`]]);

    // Still depleted: no news.
    const second = await deliverForResult(batchOf([usage(alias, keyId, 1000, 500)]));
    expect(second.result.ok && second.result.outcome.crossings).toEqual([]);
    expect(exact(await checkpointBalance(pool, userId))).toBe("-0.04");
    expect(logs.mock.calls.filter((c) => String(c[0]).includes(userId))).toHaveLength(1);

    // A top-up (ledger row + checkpoint, as the admin API and the seed write it) restores access:
    // the checkpoint the gateway reads is positive again.
    const topUp = await grantCredits(pool, userId, "1.00");
    expect(balanceCrossing(topUp.before, topUp.after)).toBe("restored");
    expect(exact(await checkpointBalance(pool, userId))).toBe("0.96");

    // Usage that stays positive is no news; the next depletion is a new crossing, published again.
    const third = await deliverForResult(batchOf([usage(alias, keyId, 1000, 500)]));
    expect(third.result.ok && third.result.outcome.crossings).toEqual([]);
    const fourth = await deliverForResult(batchOf([usage(alias, keyId, 100_000, 0)]));
    expect(fourth.result.ok && fourth.result.outcome.crossings).toEqual([{ userId, direction: "depleted", before: "0.935", after: "-0.065" }]);
    expect(logs.mock.calls.filter((c) => String(c[0]).includes(userId))).toHaveLength(2);
    expect(exact(await ledgerBalance(pool, userId))).toBe("-0.065");
  });

  it("several users depleted in one batch: one crossing each, nothing more", async () => {
    const logs = vi.spyOn(console, "log").mockImplementation(() => undefined);
    const { alias } = await pricedModel(pool, [REALTIME]);
    const users = await Promise.all([1, 2, 3].map(() => userWithBalance(pool, "0.01")));
    const keys = await Promise.all(users.map((u) => keyFor(pool, u)));
    // Two requests per user: the crossing is reported once per user, not once per request.
    const messages = keys.flatMap((k) => [usage(alias, k, 1000, 500), usage(alias, k, 1000, 500)]);

    const { result } = await deliverForResult(batchOf(messages));
    expect(result.ok).toBe(true);
    const crossings = result.ok ? result.outcome.crossings : [];
    expect(crossings.map((c) => c.userId).sort()).toEqual([...users].sort());
    expect(crossings.every((c) => c.direction === "depleted" && c.before === "0.01" && c.after === "-0.04")).toBe(true);
    for (const u of users) {
      expect(exact(await checkpointBalance(pool, u))).toBe("-0.04");
      expect(logs.mock.calls.filter((c) => String(c[0]).includes(u))).toHaveLength(1);
    }
  });
});
