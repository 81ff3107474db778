/**
 * The gateway's reads from Postgres. On the hot path there is at most one, and only on a cache
 * miss: `lookupAccess` answers key, model, access and balance in a single round trip.
 */
import type { ApiKeyPurpose } from "../../../shared/api-keys.ts";
import type { Pool } from "../../../shared/db.ts";
import { tariffFromRow, type Tariff } from "../../../shared/pricing.ts";

export interface KeyRecord {
  id: string;
  userId: string;
  purpose: ApiKeyPurpose;
  requestsPerSecond: number | null;
  burstSize: number | null;
}

export interface ModelRecord {
  modelId: string;
  alias: string;
  modelName: string;
  endpointName: string;
  url: string;
  apiKeyEncrypted: string | null;
  authHeaderName: string;
  authHeaderPrefix: string;
  requestsPerSecond: number | null;
  burstSize: number | null;
  /**
   * Every tariff of the model, expired and future ones too (a cached record stays right as time
   * passes). Whether a request needs credit is the pricing rule applied to these (access.ts).
   */
  tariffs: Tariff[];
  /** Prompt caching is on while the model has a cache tariff in force. */
  cache: { minPrefixTokens: number } | null;
  /** External tokenizer service for prompt caching; null = the built-in tokenizer. */
  tokenizerUrl: string | null;
  /** POST /responses goes to the upstream's /chat/completions through the adapter. */
  responsesViaChat: boolean;
  /** A stream whose client went away: cancel the upstream at once, or read it to the end (exact upstream usage). */
  onClientDisconnect: "cancel" | "drain";
}

export interface AccessRow {
  key: KeyRecord | null;
  model: ModelRecord | null;
  /** The key's owner shares a group with the model (or it is in Everyone). */
  allowed: boolean;
  /** The owner's balance is above zero. */
  hasCredit: boolean;
}

export const EVERYONE_GROUP = "00000000-0000-0000-0000-000000000000";

// The balance is the last checkpoint plus any ledger rows after it, so a lagging checkpoint never
// hides a charge or a top-up.
const BALANCE_SQL = `
  SELECT coalesce(c.balance, 0) + coalesce((
           SELECT sum(CASE WHEN t.transaction_type IN ('admin_grant', 'purchase') THEN t.amount ELSE -t.amount END)
             FROM credits_transactions t
            WHERE t.user_id = u.id AND t.seq > coalesce(c.last_seq, 0)), 0)
    FROM (SELECT $USER::uuid AS id) u LEFT JOIN user_balance_checkpoints c ON c.user_id = u.id`;

/**
 * The balance as a scalar subquery for the user id expression `userExpr` (a parameter such as
 * `$1` or a column such as `u.id`), so that every reader computes it the same way.
 */
export function balanceSql(userExpr: string): string {
  return BALANCE_SQL.replace("$USER", () => userExpr);
}

const ALLOWED_SQL = `
  EXISTS (SELECT 1 FROM deployment_groups dg
           WHERE dg.deployment_id = $MODEL
             AND (dg.group_id = '${EVERYONE_GROUP}'
                  OR dg.group_id IN (SELECT ug.group_id FROM user_groups ug WHERE ug.user_id = $USER)))`;

const ACCESS_SQL = `
  WITH k AS (
    SELECT id, user_id AS "userId", purpose, requests_per_second::float8 AS "requestsPerSecond", burst_size AS "burstSize"
      FROM api_keys WHERE key_hash = $1 AND NOT is_deleted
       AND EXISTS (SELECT 1 FROM users u WHERE u.id = api_keys.user_id AND u.deleted_at IS NULL)
  ), m AS (
    SELECT dm.id AS "modelId", dm.alias, dm.model_name AS "modelName", ie.name AS "endpointName", ie.url,
           ie.api_key_encrypted AS "apiKeyEncrypted", ie.auth_header_name AS "authHeaderName",
           ie.auth_header_prefix AS "authHeaderPrefix", dm.requests_per_second::float8 AS "requestsPerSecond",
           dm.burst_size AS "burstSize", dm.tokenizer_url AS "tokenizerUrl",
           dm.responses_via_chat AS "responsesViaChat", dm.on_client_disconnect AS "onClientDisconnect",
           coalesce((SELECT json_agg(json_build_object(
                       'purpose', t.api_key_purpose, 'completionWindow', t.completion_window,
                       'inputPricePerToken', t.input_price_per_token::text, 'outputPricePerToken', t.output_price_per_token::text,
                       'validFromUs', floor(extract(epoch FROM t.valid_from) * 1000000)::bigint::text,
                       'validUntilUs', floor(extract(epoch FROM t.valid_until) * 1000000)::bigint::text)
                       ORDER BY t.valid_from DESC, t.id)
                       FROM model_tariffs t WHERE t.deployed_model_id = dm.id), '[]'::json) AS tariffs,
           (SELECT json_build_object('minPrefixTokens', ct.min_prefix_tokens) FROM model_cache_tariffs ct
             WHERE ct.deployed_model_id = dm.id AND ct.valid_from <= now()
               AND (ct.valid_until IS NULL OR ct.valid_until > now())
             ORDER BY ct.valid_from DESC LIMIT 1) AS cache
      FROM deployed_models dm JOIN inference_endpoints ie ON ie.id = dm.hosted_on
     WHERE dm.alias = $2 AND dm.deleted_at IS NULL
  )
  SELECT (SELECT row_to_json(k) FROM k) AS key,
         (SELECT row_to_json(m) FROM m) AS model,
         coalesce((SELECT ${ALLOWED_SQL.replace("$MODEL", 'm."modelId"').replace("$USER", 'k."userId"')} FROM k, m), false) AS allowed,
         coalesce((SELECT (${BALANCE_SQL.replace("$USER", 'k."userId"')}) > 0 FROM k), false) AS "hasCredit"`;

type TariffJson = Parameters<typeof tariffFromRow>[0];
type AccessJson = Omit<AccessRow, "model"> & { model: (Omit<ModelRecord, "tariffs"> & { tariffs: TariffJson[] }) | null };

export async function lookupAccess(pool: Pool, keyHash: string, alias: string): Promise<AccessRow> {
  const { rows } = await pool.query<AccessJson>(ACCESS_SQL, [keyHash, alias]);
  const row = rows[0];
  if (!row) return { key: null, model: null, allowed: false, hasCredit: false };
  return { ...row, model: row.model && { ...row.model, tariffs: row.model.tariffs.map(tariffFromRow) } };
}

export interface ListedModel {
  alias: string;
  createdAt: string;
}

/** The models a user may use (GET /ai/v1/models). */
export async function listAllowedModels(pool: Pool, userId: string): Promise<ListedModel[]> {
  const { rows } = await pool.query<{ alias: string; created_at: Date | string }>(
    `SELECT dm.alias, dm.created_at FROM deployed_models dm
      WHERE dm.deleted_at IS NULL AND ${ALLOWED_SQL.replace("$MODEL", "dm.id").replace(/\$USER/g, "$1")}
      ORDER BY dm.alias`,
    [userId],
  );
  return rows.map((r) => ({ alias: r.alias, createdAt: new Date(r.created_at).toISOString() }));
}
