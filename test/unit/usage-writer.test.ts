/**
 * The write path under contention, in Node against a fresh real Postgres (DATABASE_URL's server)
 * or embedded Postgres: many writers at once, each holding a different overlapping slice of the
 * same requests in a different order. No writer may fail (a deadlock would), no request may be
 * charged twice, and every checkpoint must equal its ledger to the last digit.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Money, moneyText } from "../../shared/pricing.ts";
import { arrayLiteral } from "../../shared/sql/unnest-insert.ts";
import type { UsageMessageV1 } from "../../shared/usage-message.ts";
import { USAGE_WRITE_FUNCTION, usageCharges, usageWriteFunctionArguments, usageWriteFunctionBody } from "../../shared/sql/usage-write.ts";
import { planUsageBatch, unstorableReason } from "../../workers/consumer/src/usage-plan.ts";
import { EnrichmentCache, lookupEnrichment, lookupKeyOwners, lookupModelPricing, writeUsageBatch } from "../../workers/consumer/src/usage-writer.ts";
import { checkpointBalance, createKey, createModel, createTariff, createUser, grantCredits, ledgerBalance } from "../support/db-fixtures.ts";
import { sampleMessage } from "../support/samples.ts";
import { createTestDatabase, type TestDatabase } from "../support/test-database.ts";

let db: TestDatabase;
const clients: pg.Client[] = [];
let admin: pg.Client;
const WRITERS = 6;

beforeAll(async () => {
  db = await createTestDatabase("usage_writer");
  for (let i = 0; i <= WRITERS; i++) {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    clients.push(c);
  }
  admin = clients.pop()!;
}, 60_000);

afterAll(async () => {
  for (const c of [...clients, admin]) await c?.end();
  await db?.drop();
});

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe("writeUsageBatch under contention", () => {
  it("overlapping batches from concurrent writers: each request charged once, checkpoints equal the ledger", async () => {
    const model = await createModel(admin, { url: "http://127.0.0.1:9/v1" });
    await createTariff(admin, model.modelId, { purpose: "realtime", input: "0.0000013", output: "0.0000071" });
    const users = await Promise.all(Array.from({ length: 6 }, () => createUser(admin)));
    // Half start without a checkpoint, so concurrent writers also race to open it.
    const granted = (i: number) => (i % 2 === 0 ? "3" : "0");
    for (const [i, u] of users.entries()) if (granted(i) !== "0") await grantCredits(admin, u, granted(i));
    const keys = await Promise.all(users.map((u) => createKey(admin, u)));

    const expectedSpend = users.map(() => new Money(0));
    for (let round = 0; round < 8; round++) {
      const messages: UsageMessageV1[] = Array.from({ length: 60 }, (_, i) =>
        sampleMessage({
          model: model.alias,
          api_key_id: keys[i % keys.length]!.id,
          usage: { prompt_tokens: 100 + i, completion_tokens: 7 * i, reasoning_tokens: 0, total_tokens: 100 + 8 * i, cached_tokens: 0 },
        }),
      );
      messages.forEach((m, i) => {
        expectedSpend[i % users.length] = expectedSpend[i % users.length]!.plus(new Money("0.0000013").times(100 + i).plus(new Money("0.0000071").times(7 * i)));
      });
      // Each writer gets a random two-thirds of the round's requests, shuffled.
      const outcomes = await Promise.all(clients.map((c) => writeUsageBatch(c, shuffled(messages).slice(0, 40))));
      const charged = outcomes.reduce((n, o) => n + o.charged, 0);
      const recorded = outcomes.reduce((n, o) => n + o.recorded, 0);
      const { rows } = await admin.query<{ n: string }>("SELECT count(*)::text AS n FROM credits_transactions WHERE source_id = ANY($1)", [
        messages.map((m) => `usage:${m.event_id}`),
      ]);
      // Requests no writer held are simply not recorded yet; the rest exactly once.
      expect(Number(rows[0]!.n)).toBe(charged);
      expect(recorded).toBe(charged);
      // Deliver the full round once more (what the queue's retry would do): completes it.
      const rest = await writeUsageBatch(clients[0]!, messages);
      expect(rest.charged).toBe(60 - charged);
    }
    for (const [i, u] of users.entries()) {
      const expected = moneyText(new Money(granted(i)).minus(expectedSpend[i]!));
      expect(moneyText(new Money((await checkpointBalance(admin, u))!))).toBe(expected);
      expect(moneyText(new Money(await ledgerBalance(admin, u)))).toBe(expected);
    }
  }, 60_000);

  it("opens a missing checkpoint at the sum of the user's existing ledger", async () => {
    const model = await createModel(admin, { url: "http://127.0.0.1:9/v1" });
    await createTariff(admin, model.modelId, { purpose: "realtime", input: "0.001", output: "0" });
    const userId = await createUser(admin);
    // A grant written without a checkpoint (a writer that broke the fold-in-the-same-transaction rule).
    await admin.query("INSERT INTO credits_transactions (user_id, transaction_type, amount, source_id) VALUES ($1, 'purchase', '5', $2)", [userId, `test:${crypto.randomUUID()}`]);
    const key = await createKey(admin, userId);
    const out = await writeUsageBatch(clients[0]!, [sampleMessage({ model: model.alias, api_key_id: key.id, usage: { prompt_tokens: 1000, completion_tokens: 0, reasoning_tokens: 0, total_tokens: 1000, cached_tokens: 0 } })]);
    expect(out.balanceChanges).toEqual([expect.objectContaining({ userId, before: "5", after: "4" })]);
    expect(await checkpointBalance(admin, userId)).toBe("4");
  });
});

describe("the usage write's ledger rows", () => {
  it("charges exactly the billable rows, each built from its own analytics row (as usageCharges predicts)", async () => {
    const model = await createModel(admin, { url: "http://127.0.0.1:9/v1" });
    await createTariff(admin, model.modelId, { purpose: "realtime", input: "0.0000013", output: "0.0000071" });
    await createTariff(admin, model.modelId, { purpose: "batch", input: "0.00000065", output: "0.0000035" });
    const userId = await createUser(admin);
    await grantCredits(admin, userId, "10");
    const realtime = await createKey(admin, userId);
    const batchKey = await createKey(admin, userId, "batch");
    const tokens = (prompt: number, completion: number) => ({ prompt_tokens: prompt, completion_tokens: completion, reasoning_tokens: 0, total_tokens: prompt + completion, cached_tokens: 0 });
    const batchId = crypto.randomUUID();
    const messages = [
      sampleMessage({ model: model.alias, api_key_id: realtime.id.toUpperCase(), usage: tokens(1000, 500) }),
      sampleMessage({
        model: model.alias,
        api_key_id: batchKey.id,
        usage: tokens(2000, 10),
        batch: { batch_id: batchId, request_id: crypto.randomUUID(), custom_id: "row-1", completion_window: "24h", created_at: null, request_source: "api" },
      }),
      sampleMessage({ model: model.alias, api_key_id: null, access: "unauthenticated", usage: tokens(50, 50) }),
      sampleMessage({ model: model.alias, api_key_id: crypto.randomUUID(), usage: tokens(50, 50) }),
      sampleMessage({ model: model.alias, api_key_id: realtime.id, usage: tokens(0, 0) }),
      sampleMessage({ model: `unpriced-${crypto.randomUUID()}`, api_key_id: realtime.id, usage: tokens(10, 10) }),
    ];
    const { owners, models } = await lookupEnrichment(admin, messages);
    const predicted = usageCharges(planUsageBatch(messages, owners, models).rows);

    const out = await writeUsageBatch(clients[0]!, messages);

    expect(out).toMatchObject({ recorded: 6, charged: 2 });
    const { rows } = await admin.query(
      `SELECT user_id::text, transaction_type, amount::text, source_id, description, fusillade_batch_id::text, api_key_id::text, created_by
         FROM credits_transactions WHERE source_id = ANY($1) ORDER BY source_id`,
      [messages.map((m) => `usage:${m.event_id.toLowerCase()}`)],
    );
    expect(rows).toEqual(
      predicted.map((e) => ({
        user_id: e.userId,
        transaction_type: e.type,
        amount: moneyText(e.amount),
        source_id: e.sourceId,
        description: e.description,
        fusillade_batch_id: e.fusilladeBatchId,
        api_key_id: e.apiKeyId?.toLowerCase(),
        created_by: null,
      })),
    );
    expect(rows).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ source_id: `usage:${messages[0]!.event_id}`, amount: "0.00485", api_key_id: realtime.id, fusillade_batch_id: null, description: `API usage: ${model.alias} (1000 input + 500 output tokens)` }),
        expect.objectContaining({ source_id: `usage:${messages[1]!.event_id}`, amount: "0.001335", api_key_id: batchKey.id, fusillade_batch_id: batchId }),
      ]),
    );
    expect(await checkpointBalance(admin, userId)).toBe("9.993815");
  });
});

describe(USAGE_WRITE_FUNCTION, () => {
  it("is installed by the migrations exactly as shared/sql/usage-write.ts builds it", async () => {
    const { rows } = await admin.query<{ args: string; body: string }>(
      "SELECT pg_get_function_arguments(oid) AS args, prosrc AS body FROM pg_proc WHERE proname = $1",
      [USAGE_WRITE_FUNCTION],
    );
    const fix = "the statement changed: add a migration with the output of usageWriteFunctionSql()";
    expect(rows, "one function of that name").toHaveLength(1);
    expect(rows[0]!.args, fix).toBe(usageWriteFunctionArguments());
    expect(rows[0]!.body, fix).toBe(usageWriteFunctionBody());
  });

  it("missing from an unmigrated database: the error says to apply the migrations", async () => {
    const c = clients[0]!;
    await c.query("BEGIN");
    try {
      await c.query(`DROP FUNCTION ${USAGE_WRITE_FUNCTION}`);
      await expect(writeUsageBatch(c, [sampleMessage({ model: null, api_key_id: null, access: "unauthenticated" })])).rejects.toThrow(/apply the migrations \(npm run db:migrate\)/);
    } finally {
      await c.query("ROLLBACK");
    }
  });
});

describe("arrayLiteral", () => {
  it("round-trips every kind of text, number and boolean through Postgres", async () => {
    const texts = ['a"b', "c\\d", "", "NULL", "null", " {x,y} ", "tab\tnew\nline", "ünï ✓ 😀", "'", "\\\"", null];
    const { rows } = await admin.query<{ t: (string | null)[]; n: string[]; b: boolean[] }>("SELECT $1::text[] AS t, $2::bigint[]::text[] AS n, $3::boolean[] AS b", [
      arrayLiteral(texts),
      arrayLiteral([0, -7, Number.MAX_SAFE_INTEGER]),
      arrayLiteral([true, false]),
    ]);
    expect(rows[0]).toEqual({ t: texts, n: ["0", "-7", String(Number.MAX_SAFE_INTEGER)], b: [true, false] });
  });
});

describe("lookupEnrichment", () => {
  it("returns in one query exactly what the key and model lookups return", async () => {
    const model = await createModel(admin, { url: "http://127.0.0.1:9/v1" });
    await createTariff(admin, model.modelId, { purpose: "realtime", input: "0.0000013", output: "0.0000071", validFrom: "2024-01-01T00:00:00.000250Z", validUntil: "2025-01-01T00:00:00Z" });
    await createTariff(admin, model.modelId, { purpose: "realtime", input: "0.0000012", output: "0.000007", validFrom: "2025-01-01T00:00:00Z" });
    await createTariff(admin, model.modelId, { purpose: "batch", input: "0.0000006", output: "0.0000035", completionWindow: "24h", validFrom: "2025-02-01T00:00:00Z" });
    await admin.query(
      `INSERT INTO model_cache_tariffs (deployed_model_id, read_multiplier, write_multiplier_5m, write_multiplier_1h, valid_from, valid_until)
       VALUES ($1, 0.1, 1.25, NULL, '2024-06-01T00:00:00.000001Z', '2025-06-01T00:00:00Z'), ($1, 0.05, 1.5, 2, '2025-06-01T00:00:00Z', NULL)`,
      [model.modelId],
    );
    const bare = await createModel(admin, { url: "http://127.0.0.1:9/v1" });
    const userId = await createUser(admin);
    const live = await createKey(admin, userId, "batch");
    const deleted = await createKey(admin, userId);
    await admin.query("UPDATE api_keys SET is_deleted = true, deleted_at = now() WHERE id = $1", [deleted.id]);
    const messages = [
      sampleMessage({ model: model.alias, api_key_id: live.id.toUpperCase() }),
      sampleMessage({ model: bare.alias, api_key_id: deleted.id }),
      sampleMessage({ model: "no-such-model", api_key_id: crypto.randomUUID() }),
      sampleMessage({ model: null, api_key_id: null, access: "unauthenticated" }),
    ];
    const both = await lookupEnrichment(clients[0]!, messages);
    expect(both.owners).toEqual(await lookupKeyOwners(clients[0]!, messages));
    expect(both.models).toEqual(await lookupModelPricing(clients[0]!, messages));
    expect(both.owners.size).toBe(2);
    expect(both.models.get(model.alias)!.tariffs.map((t) => t.validFromUs)).toEqual([1738368000000000, 1735689600000000, 1704067200000250]);
    expect(both.models.get(model.alias)!.cacheTariffs).toHaveLength(2);
    expect(both.models.get(bare.alias)).toEqual({ providerName: expect.any(String), tariffs: [], cacheTariffs: [] });
    expect([...both.fingerprints.keys()].sort()).toEqual([model.alias, bare.alias].sort());
    expect(await lookupEnrichment(clients[0]!, messages)).toEqual(both);
    expect(await lookupEnrichment(clients[0]!, [sampleMessage({ model: null, api_key_id: null })])).toEqual({ owners: new Map(), models: new Map(), fingerprints: new Map() });
  });
});

describe("EnrichmentCache", () => {
  /** A client that counts the statements it runs (not the transaction's BEGIN/COMMIT or the analytics rollup). */
  function counting(client: pg.Client): { client: pg.Client; queries: () => number } {
    let n = 0;
    const wrapped = Object.create(client) as pg.Client;
    wrapped.query = ((text: string, values?: unknown[]) => {
      if (!/^(BEGIN|COMMIT|ROLLBACK)$/.test(text) && !text.includes("http_analytics_rollup")) n++;
      return client.query(text, values);
    }) as pg.Client["query"];
    return { client: wrapped, queries: () => n };
  }
  const usage = (modelAlias: string, keyId: string) =>
    sampleMessage({ model: modelAlias, api_key_id: keyId, usage: { prompt_tokens: 1000, completion_tokens: 0, reasoning_tokens: 0, total_tokens: 1000, cached_tokens: 0 } });

  it("skips the lookup while nothing changed, and never prices with a tariff that changed since it was cached", async () => {
    const model = await createModel(admin, { url: "http://127.0.0.1:9/v1" });
    const old = await createTariff(admin, model.modelId, { purpose: "realtime", input: "0.001", output: "0", validFrom: "2024-01-01T00:00:00Z" });
    const userId = await createUser(admin);
    await grantCredits(admin, userId, "100");
    const key = await createKey(admin, userId);
    const cache = new EnrichmentCache();
    const { client, queries } = counting(clients[0]!);

    expect((await writeUsageBatch(client, [usage(model.alias, key.id)], [], cache)).balanceChanges).toEqual([expect.objectContaining({ after: "99" })]);
    expect(queries()).toBe(2); // lookup + write
    expect((await writeUsageBatch(client, [usage(model.alias, key.id)], [], cache)).balanceChanges).toEqual([expect.objectContaining({ after: "98" })]);
    expect(queries()).toBe(3); // the cached pricing was still right: the write alone

    // A price change after the cache was filled: the cached write notices and writes nothing,
    // the batch is priced afresh and written once at the new price.
    await admin.query("UPDATE model_tariffs SET valid_until = now() - interval '1 minute' WHERE id = $1", [old]);
    await createTariff(admin, model.modelId, { purpose: "realtime", input: "0.002", output: "0", validFrom: new Date(Date.now() - 60_000).toISOString() });
    const message = usage(model.alias, key.id);
    const out = await writeUsageBatch(client, [message], [], cache);
    expect(queries()).toBe(6); // stale write + lookup + write
    expect(out).toMatchObject({ recorded: 1, charged: 1, balanceChanges: [expect.objectContaining({ before: "98", after: "96" })] });
    const { rows } = await admin.query<{ amount: string; total_cost: string }>(
      `SELECT t.amount::text AS amount, h.total_cost::text AS total_cost FROM credits_transactions t JOIN http_analytics h ON t.source_id = 'usage:' || h.event_id
        WHERE h.event_id = $1`,
      [message.event_id],
    );
    expect(rows).toEqual([{ amount: "2", total_cost: "2" }]);
    expect(await checkpointBalance(admin, userId)).toBe(await ledgerBalance(admin, userId));
  });

  it("notices a key whose purpose changed since it was cached", async () => {
    const model = await createModel(admin, { url: "http://127.0.0.1:9/v1" });
    await createTariff(admin, model.modelId, { purpose: "realtime", input: "0.001", output: "0" });
    await createTariff(admin, model.modelId, { purpose: "batch", input: "0.0005", output: "0" });
    const userId = await createUser(admin);
    await grantCredits(admin, userId, "10");
    const key = await createKey(admin, userId);
    const cache = new EnrichmentCache();
    await writeUsageBatch(clients[0]!, [usage(model.alias, key.id)], [], cache);
    await admin.query("UPDATE api_keys SET purpose = 'batch' WHERE id = $1", [key.id]);
    const out = await writeUsageBatch(clients[0]!, [usage(model.alias, key.id)], [], cache);
    expect(out.balanceChanges).toEqual([expect.objectContaining({ before: "9", after: "8.5" })]);
  });
});

describe("planUsageBatch", () => {
  it("prices every row, charges only known keys with a positive cost", () => {
    const model = { providerName: "ep", tariffs: [{ purpose: "realtime", completionWindow: null, inputPricePerToken: new Money("0.01"), outputPricePerToken: new Money("0.02"), validFromUs: 0, validUntilUs: null }], cacheTariffs: [] };
    const keyId = crypto.randomUUID();
    const owned = sampleMessage({ model: "m", api_key_id: keyId.toUpperCase() });
    const anonymous = sampleMessage({ model: "m", api_key_id: null, access: "unauthenticated" });
    const free = sampleMessage({ model: "m", api_key_id: keyId, usage: { prompt_tokens: 0, completion_tokens: 0, reasoning_tokens: 0, total_tokens: 0, cached_tokens: 0 } });
    const unknownModel = sampleMessage({ model: "nope", api_key_id: keyId });
    const plan = planUsageBatch([owned, anonymous, free, unknownModel], new Map([[keyId, { userId: "u1", purpose: "playground" }]]), new Map([["m", model]]));

    expect(plan.rows.map((r) => [r.userId, r.totalCost, r.providerName, r.requestOrigin])).toEqual([
      ["u1", "0.11", "ep", "frontend"],
      [null, "0.11", "ep", "api"],
      ["u1", "0", "ep", "frontend"],
      ["u1", null, null, "frontend"],
    ]);
    const charges = usageCharges(plan.rows);
    expect(charges).toHaveLength(1);
    expect(charges[0]).toMatchObject({ userId: "u1", type: "usage", sourceId: `usage:${owned.event_id}`, description: "API usage: m (3 input + 4 output tokens)" });
    expect(plan.problems).toEqual([]);
  });

  it("flags tokens without a model", () => {
    const msg = sampleMessage({ model: null });
    expect(planUsageBatch([msg], new Map(), new Map()).problems).toEqual([expect.stringContaining("but no model")]);
  });

  it("refuses what Postgres cannot store", () => {
    expect(unstorableReason(sampleMessage())).toBeNull();
    expect(unstorableReason(sampleMessage({ user_agent: "a\u0000b" }))).toMatch(/NUL/);
    expect(unstorableReason(sampleMessage({ duration_ms: 1e300 }))).toMatch(/duration_ms/);
  });
});
