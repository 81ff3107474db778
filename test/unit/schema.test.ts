/**
 * The database protects the ledger by itself, whatever code talks to it. Runs against a fresh
 * real Postgres (DATABASE_URL's server) or embedded Postgres.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../dev/migrate.ts";
import { createTestDatabase, type TestDatabase } from "../support/test-database.ts";

let db: TestDatabase;
let client: pg.Client;
let userId: string;

beforeAll(async () => {
  db = await createTestDatabase("schema");
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const { rows } = await client.query<{ id: string }>("INSERT INTO users (username, email) VALUES ('ledger', 'ledger@example.com') RETURNING id");
  userId = rows[0]!.id;
}, 60_000);

afterAll(async () => {
  await client?.end();
  await db?.drop();
});

const grant = (sourceId: string, amount = "5") =>
  client.query("INSERT INTO credits_transactions (user_id, transaction_type, amount, source_id) VALUES ($1, 'admin_grant', $2, $3)", [userId, amount, sourceId]);

async function errorOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).message;
  }
  return "no error";
}

describe("schema", () => {
  it("migrations are safe to run twice", async () => {
    expect(await migrate(db.url)).toEqual([]);
  });

  it("the ledger is append-only", async () => {
    await grant("append-only-1");
    expect(await errorOf(client.query("UPDATE credits_transactions SET amount = 1000"))).toMatch(/append-only/);
    expect(await errorOf(client.query("DELETE FROM credits_transactions"))).toMatch(/append-only/);
    expect(await errorOf(client.query("TRUNCATE credits_transactions"))).toMatch(/append-only/);
    const { rows } = await client.query("SELECT amount FROM credits_transactions WHERE source_id = 'append-only-1'");
    expect(rows).toEqual([{ amount: "5" }]);
  });

  it("amounts are positive and source ids unique", async () => {
    expect(await errorOf(grant("zero", "0"))).toMatch(/amount_check/);
    expect(await errorOf(grant("negative", "-1"))).toMatch(/amount_check/);
    await grant("once");
    expect(await errorOf(grant("once"))).toMatch(/source_id/);
  });

  it("http_analytics event ids, model aliases and key hashes are unique", async () => {
    const event = crypto.randomUUID();
    const insertEvent = () =>
      client.query(
        "INSERT INTO http_analytics (event_id, timestamp, method, uri, status_code, duration_ms, response_type, access_source) VALUES ($1, now(), 'POST', '/x', 200, 1, 'json', 'api_key')",
        [event],
      );
    await insertEvent();
    expect(await errorOf(insertEvent())).toMatch(/event_id/);

    const ep = await client.query<{ id: string }>("INSERT INTO inference_endpoints (name, url) VALUES ('ep-unique', 'http://127.0.0.1:1/v1') RETURNING id");
    const model = () => client.query("INSERT INTO deployed_models (model_name, alias, hosted_on) VALUES ('m', 'alias-unique', $1)", [ep.rows[0]!.id]);
    await model();
    expect(await errorOf(model())).toMatch(/alias/);

    const key = () =>
      client.query("INSERT INTO api_keys (name, key_hash, key_prefix, user_id, created_by) VALUES ('k', $1, 'tg-x', $2, $2)", ["a".repeat(64), userId]);
    await key();
    expect(await errorOf(key())).toMatch(/key_hash/);
    expect(await errorOf(client.query("INSERT INTO api_keys (name, key_hash, key_prefix, user_id, created_by) VALUES ('k', 'tg-plaintext', 'tg-x', $1, $1)", [userId]))).toMatch(/key_hash_check/);
  });

  it("one active tariff per model, purpose and completion window; history is allowed", async () => {
    const ep = await client.query<{ id: string }>("INSERT INTO inference_endpoints (name, url) VALUES ('ep-tariff', 'http://127.0.0.1:1/v1') RETURNING id");
    const m = await client.query<{ id: string }>("INSERT INTO deployed_models (model_name, alias, hosted_on) VALUES ('m', 'alias-tariff', $1) RETURNING id", [ep.rows[0]!.id]);
    const modelId = m.rows[0]!.id;
    const tariff = (purpose: string, window: string | null, until: string | null = null) =>
      client.query(
        `INSERT INTO model_tariffs (deployed_model_id, api_key_purpose, completion_window, input_price_per_token, output_price_per_token, valid_from, valid_until)
         VALUES ($1, $2, $3, 0.001, 0.002, now() - interval '1 day', $4)`,
        [modelId, purpose, window, until],
      );
    await tariff("realtime", null);
    expect(await errorOf(tariff("realtime", null))).toMatch(/one_active/);
    await tariff("batch", "24h");
    await tariff("batch", null);
    expect(await errorOf(tariff("batch", "24h"))).toMatch(/one_active/);
    // A closed (historical) tariff beside the active one is fine.
    await tariff("realtime", null, new Date().toISOString());
  });
});
