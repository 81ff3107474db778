/**
 * The demo seed for `npm start` and the end-to-end tests: a demo user with credits, a demo model
 * on an endpoint (the bundled mock upstream unless a real one is named) open to everyone, and a
 * fresh API key. Safe to run on every start: rows are upserted, and the previous demo key is
 * soft-deleted because only its hash was kept.
 */
import pg from "pg";
import { displayPrefix, generateApiKey, hashApiKey } from "../shared/api-keys.ts";
import { encryptSecret, importSecretKey } from "../shared/secret-box.ts";

export const DEMO_MODEL_ALIAS = "demo-model";
export const DEMO_USER_EMAIL = "demo@tollgate.local";
const DEMO_KEY_NAME = "demo key (npm start)";
const EVERYONE_GROUP = "00000000-0000-0000-0000-000000000000";

export interface SeedOptions {
  upstreamBaseUrl: string;
  /** The upstream's model name for the demo alias. */
  upstreamModel: string;
  upstreamApiKey?: string;
  encryptionKey: string;
  /** Credits granted once to the demo user. */
  grant?: string;
}

export interface SeedResult {
  userId: string;
  apiKey: string;
  apiKeyId: string;
  modelAlias: string;
}

export async function seedDemo(databaseUrl: string, o: SeedOptions): Promise<SeedResult> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("BEGIN");
    const user = await client.query<{ id: string }>(
      `INSERT INTO users (username, email, display_name) VALUES ('demo', $1, 'Demo user')
       ON CONFLICT (email) DO UPDATE SET updated_at = now() RETURNING id`,
      [DEMO_USER_EMAIL],
    );
    const userId = user.rows[0]!.id;
    await client.query(`INSERT INTO user_roles (user_id, role) VALUES ($1, 'standard_user') ON CONFLICT DO NOTHING`, [userId]);

    const grant = await client.query<{ seq: string; amount: string }>(
      `INSERT INTO credits_transactions (user_id, transaction_type, amount, source_id, description)
       VALUES ($1, 'admin_grant', $2, 'seed:demo-grant', 'Demo credits from npm start')
       ON CONFLICT (source_id) DO NOTHING RETURNING seq, amount`,
      [userId, o.grant ?? "100"],
    );
    if (grant.rows[0]) {
      await client.query(
        `INSERT INTO user_balance_checkpoints (user_id, balance, last_seq) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE SET balance = user_balance_checkpoints.balance + EXCLUDED.balance,
           last_seq = GREATEST(user_balance_checkpoints.last_seq, EXCLUDED.last_seq), updated_at = now()`,
        [userId, grant.rows[0].amount, grant.rows[0].seq],
      );
    }

    const encrypted = o.upstreamApiKey ? await encryptSecret(await importSecretKey(o.encryptionKey), o.upstreamApiKey) : null;
    const endpoint = await client.query<{ id: string }>(
      `INSERT INTO inference_endpoints (name, description, url, api_key_encrypted, created_by)
       VALUES ('demo-upstream', 'Endpoint created by npm start', $1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET url = EXCLUDED.url, api_key_encrypted = EXCLUDED.api_key_encrypted, updated_at = now()
       RETURNING id`,
      [o.upstreamBaseUrl, encrypted, userId],
    );
    const model = await client.query<{ id: string }>(
      `INSERT INTO deployed_models (model_name, alias, hosted_on, description, created_by)
       VALUES ($1, $2, $3, 'Demo model created by npm start', $4)
       ON CONFLICT (alias) DO UPDATE SET model_name = EXCLUDED.model_name, hosted_on = EXCLUDED.hosted_on, updated_at = now()
       RETURNING id`,
      [o.upstreamModel, DEMO_MODEL_ALIAS, endpoint.rows[0]!.id, userId],
    );
    const modelId = model.rows[0]!.id;
    await client.query(`INSERT INTO deployment_groups (deployment_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [modelId, EVERYONE_GROUP]);
    await client.query(
      `INSERT INTO model_tariffs (deployed_model_id, name, api_key_purpose, input_price_per_token, output_price_per_token)
       SELECT $1, 'demo', 'realtime', 0.000001, 0.000002
       WHERE NOT EXISTS (SELECT 1 FROM model_tariffs WHERE deployed_model_id = $1 AND api_key_purpose = 'realtime' AND valid_until IS NULL)`,
      [modelId],
    );

    await client.query(
      `UPDATE api_keys SET is_deleted = true, deleted_at = now() WHERE user_id = $1 AND name = $2 AND NOT is_deleted`,
      [userId, DEMO_KEY_NAME],
    );
    const apiKey = generateApiKey();
    const key = await client.query<{ id: string }>(
      `INSERT INTO api_keys (name, key_hash, key_prefix, user_id, created_by, purpose)
       VALUES ($1, $2, $3, $4, $4, 'realtime') RETURNING id`,
      [DEMO_KEY_NAME, await hashApiKey(apiKey), displayPrefix(apiKey), userId],
    );
    await client.query("COMMIT");
    return { userId, apiKey, apiKeyId: key.rows[0]!.id, modelAlias: DEMO_MODEL_ALIAS };
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    await client.end();
  }
}
