/**
 * Test data written straight to Postgres through whichever client the test runs with (`pg` in
 * Node, the Neon Pool in workerd). No Node APIs here.
 */
import { displayPrefix, generateApiKey, hashApiKey, type ApiKeyPurpose } from "../../shared/api-keys.ts";

export interface Queryable {
  query<R extends Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

export const EVERYONE_GROUP = "00000000-0000-0000-0000-000000000000";

const unique = () => crypto.randomUUID().slice(0, 8);

export async function createUser(db: Queryable, name = `user-${unique()}`): Promise<string> {
  const { rows } = await db.query<{ id: string }>("INSERT INTO users (username, email) VALUES ($1, $2) RETURNING id", [name, `${name}@example.com`]);
  return rows[0]!.id;
}

export async function createKey(db: Queryable, userId: string, purpose: ApiKeyPurpose = "realtime"): Promise<{ id: string; key: string }> {
  const key = generateApiKey();
  const { rows } = await db.query<{ id: string }>(
    "INSERT INTO api_keys (name, key_hash, key_prefix, user_id, created_by, purpose) VALUES ('test', $1, $2, $3, $3, $4) RETURNING id",
    [await hashApiKey(key), displayPrefix(key), userId, purpose],
  );
  return { id: rows[0]!.id, key };
}

export interface ModelFixture {
  modelId: string;
  alias: string;
  endpointId: string;
}

/** A model on an endpoint; `open` puts it in the Everyone group. */
export async function createModel(
  db: Queryable,
  o: { url: string; modelName?: string; open?: boolean; apiKeyEncrypted?: string | null; authHeaderName?: string; authHeaderPrefix?: string; responsesViaChat?: boolean },
): Promise<ModelFixture> {
  const alias = `model-${unique()}`;
  const ep = await db.query<{ id: string }>(
    `INSERT INTO inference_endpoints (name, url, api_key_encrypted, auth_header_name, auth_header_prefix)
     VALUES ($1, $2, $3, $4, $5) RETURNING id`,
    [`ep-${alias}`, o.url, o.apiKeyEncrypted ?? null, o.authHeaderName ?? "Authorization", o.authHeaderPrefix ?? "Bearer "],
  );
  const endpointId = ep.rows[0]!.id;
  const m = await db.query<{ id: string }>("INSERT INTO deployed_models (model_name, alias, hosted_on, responses_via_chat) VALUES ($1, $2, $3, $4) RETURNING id", [
    o.modelName ?? "mock-gpt",
    alias,
    endpointId,
    o.responsesViaChat ?? false,
  ]);
  const modelId = m.rows[0]!.id;
  if (o.open ?? true) await db.query("INSERT INTO deployment_groups (deployment_id, group_id) VALUES ($1, $2)", [modelId, EVERYONE_GROUP]);
  return { modelId, alias, endpointId };
}

/** A tariff row; instants are ISO strings (defaults: valid from a day ago, still current). */
export async function createTariff(
  db: Queryable,
  modelId: string,
  o: { purpose: "realtime" | "batch" | "playground"; input: string; output: string; completionWindow?: string | null; validFrom?: string; validUntil?: string | null },
): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO model_tariffs (deployed_model_id, name, api_key_purpose, completion_window, input_price_per_token, output_price_per_token, valid_from, valid_until)
     VALUES ($1, $2, $3, $4, $5, $6, coalesce($7::timestamptz, now() - interval '1 day'), $8) RETURNING id`,
    [modelId, `${o.purpose}-${unique()}`, o.purpose, o.completionWindow ?? null, o.input, o.output, o.validFrom ?? null, o.validUntil ?? null],
  );
  return rows[0]!.id;
}

/**
 * Credits a user the way every ledger writer must: the ledger row and its fold into the checkpoint
 * in one statement (as the admin API's transactions do). Returns the checkpoint balance before and after.
 */
export async function grantCredits(
  db: Queryable,
  userId: string,
  amount: string,
  type: "admin_grant" | "purchase" = "admin_grant",
): Promise<{ before: string; after: string }> {
  const { rows } = await db.query<{ before: string; after: string }>(
    `WITH t AS (
       INSERT INTO credits_transactions (user_id, transaction_type, amount, source_id, description)
       VALUES ($1, $2, $3, $4, 'test top-up') RETURNING user_id, amount, seq
     )
     INSERT INTO user_balance_checkpoints AS c (user_id, balance, last_seq)
     SELECT user_id, amount, seq FROM t
     ON CONFLICT (user_id) DO UPDATE SET balance = c.balance + EXCLUDED.balance,
       last_seq = GREATEST(c.last_seq, EXCLUDED.last_seq), updated_at = now()
     RETURNING (c.balance - $3::numeric)::text AS before, c.balance::text AS after`,
    [userId, type, amount, `test:${type}:${crypto.randomUUID()}`],
  );
  return rows[0]!;
}

/** The checkpoint balance (what the gateway's 402 gate reads), or null without a checkpoint. */
export async function checkpointBalance(db: Queryable, userId: string): Promise<string | null> {
  const { rows } = await db.query<{ balance: string }>("SELECT balance::text AS balance FROM user_balance_checkpoints WHERE user_id = $1", [userId]);
  return rows[0]?.balance ?? null;
}

/** The balance recomputed from the ledger itself: the truth the checkpoint must equal. */
export async function ledgerBalance(db: Queryable, userId: string): Promise<string> {
  const { rows } = await db.query<{ balance: string }>(
    `SELECT coalesce(sum(CASE WHEN transaction_type IN ('admin_grant', 'purchase') THEN amount ELSE -amount END), 0)::text AS balance
       FROM credits_transactions WHERE user_id = $1`,
    [userId],
  );
  return rows[0]!.balance;
}

export interface UsageLedgerRow {
  source_id: string;
  amount: string;
  api_key_id: string | null;
  fusillade_batch_id: string | null;
  description: string | null;
}

/** A user's usage rows, oldest first. */
export async function usageRows(db: Queryable, userId: string): Promise<UsageLedgerRow[]> {
  const { rows } = await db.query<{ source_id: string; amount: string; api_key_id: string | null; fusillade_batch_id: string | null; description: string | null }>(
    `SELECT source_id, amount::text AS amount, api_key_id::text AS api_key_id, fusillade_batch_id::text AS fusillade_batch_id, description
       FROM credits_transactions WHERE user_id = $1 AND transaction_type = 'usage' ORDER BY seq`,
    [userId],
  );
  return rows;
}
