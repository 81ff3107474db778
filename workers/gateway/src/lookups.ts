/**
 * The gateway's reads from Postgres. On the hot path there is at most one, and only on a cache
 * miss: `lookupAccess` answers key, model, access and balance in a single round trip.
 */
import type { ApiKeyPurpose } from "../../../shared/api-keys.ts";
import type { Pool } from "../../../shared/db.ts";
import type { BackoffPolicy, FallbackPolicy, LbStrategy } from "../../../shared/routing.ts";
import { cacheTariffFromRow, tariffFromRow, type CacheTariff, type CacheTariffRow, type Tariff } from "../../../shared/pricing.ts";
import { CACHE_TARIFFS_JSON } from "../../../shared/sql/cache-tariffs.ts";

export interface KeyRecord {
  id: string;
  userId: string;
  purpose: ApiKeyPurpose;
  requestsPerSecond: number | null;
  burstSize: number | null;
}

/** Where a request goes upstream: an ordinary model, or one component of a composite. */
export interface UpstreamTarget {
  modelId: string;
  alias: string;
  /** The name the upstream knows (a composite's own record carries its alias here; it is never sent). */
  modelName: string;
  endpointName: string;
  url: string;
  apiKeyEncrypted: string | null;
  authHeaderName: string;
  authHeaderPrefix: string;
  /** Most requests in flight at once, across isolates; null = unlimited. */
  capacity: number | null;
}

/** A composite's component, as routing sees it (enabled and live ones only). */
export interface ComponentRecord extends UpstreamTarget {
  /** The component model's id (health is kept per component). */
  id: string;
  weight: number;
  sortOrder: number;
}

/** How a composite alias routes (shared/routing.ts). */
export interface CompositeRouting {
  strategy: LbStrategy;
  fallback: FallbackPolicy;
  backoff: BackoffPolicy;
  components: ComponentRecord[];
}

export interface ModelRecord extends UpstreamTarget {
  /** Set for a composite alias: the request goes to one of its components, never to `url`. */
  routing: CompositeRouting | null;
  requestsPerSecond: number | null;
  burstSize: number | null;
  /**
   * Every tariff of the model, expired and future ones too (a cached record stays right as time
   * passes). Whether a request needs credit is the pricing rule applied to these (access.ts).
   */
  tariffs: Tariff[];
  /** Every model_cache_tariffs row (the gateway prices the cache split as the consumer does). */
  cacheTariffs: CacheTariff[];
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
    SELECT dm.id AS "modelId", dm.alias, coalesce(dm.model_name, dm.alias) AS "modelName",
           coalesce(ie.name, dm.alias) AS "endpointName", coalesce(ie.url, '') AS url,
           ie.api_key_encrypted AS "apiKeyEncrypted", coalesce(ie.auth_header_name, '') AS "authHeaderName",
           coalesce(ie.auth_header_prefix, '') AS "authHeaderPrefix", dm.capacity,
           CASE WHEN dm.is_composite THEN json_build_object(
             'strategy', dm.lb_strategy,
             'fallback', json_build_object('enabled', dm.fallback_enabled, 'onStatus', dm.fallback_on_status,
                'onRateLimit', dm.fallback_on_rate_limit, 'maxAttempts', dm.fallback_max_attempts,
                'withReplacement', dm.fallback_with_replacement),
             'backoff', json_build_object('initialMs', dm.backoff_initial_ms, 'maxMs', dm.backoff_max_ms,
                'factor', dm.backoff_factor::float8, 'jitter', dm.backoff_jitter, 'maxTotalMs', dm.backoff_max_total_ms),
             'components', coalesce((SELECT json_agg(json_build_object(
                'id', cm.id, 'modelId', cm.id, 'alias', cm.alias, 'modelName', cm.model_name, 'endpointName', ce.name,
                'url', ce.url, 'apiKeyEncrypted', ce.api_key_encrypted, 'authHeaderName', ce.auth_header_name,
                'authHeaderPrefix', ce.auth_header_prefix, 'capacity', cm.capacity, 'weight', c.weight, 'sortOrder', c.sort_order)
                ORDER BY c.sort_order, cm.alias)
                FROM deployed_model_components c
                JOIN deployed_models cm ON cm.id = c.deployed_model_id
                JOIN inference_endpoints ce ON ce.id = cm.hosted_on
               WHERE c.composite_model_id = dm.id AND c.enabled AND cm.deleted_at IS NULL AND NOT cm.is_composite), '[]'::json))
           END AS routing,
           dm.requests_per_second::float8 AS "requestsPerSecond",
           dm.burst_size AS "burstSize", dm.tokenizer_url AS "tokenizerUrl",
           dm.responses_via_chat AS "responsesViaChat", dm.on_client_disconnect AS "onClientDisconnect",
           coalesce((SELECT json_agg(json_build_object(
                       'purpose', t.api_key_purpose, 'completionWindow', t.completion_window,
                       'inputPricePerToken', t.input_price_per_token::text, 'outputPricePerToken', t.output_price_per_token::text,
                       'validFromUs', floor(extract(epoch FROM t.valid_from) * 1000000)::bigint::text,
                       'validUntilUs', floor(extract(epoch FROM t.valid_until) * 1000000)::bigint::text)
                       ORDER BY t.valid_from DESC, t.id)
                       FROM model_tariffs t WHERE t.deployed_model_id = dm.id), '[]'::json) AS tariffs,
           ${CACHE_TARIFFS_JSON} AS "cacheTariffs",
           (SELECT json_build_object('minPrefixTokens', ct.min_prefix_tokens) FROM model_cache_tariffs ct
             WHERE ct.deployed_model_id = dm.id AND ct.valid_from <= now()
               AND (ct.valid_until IS NULL OR ct.valid_until > now())
             ORDER BY ct.valid_from DESC LIMIT 1) AS cache
      FROM deployed_models dm LEFT JOIN inference_endpoints ie ON ie.id = dm.hosted_on
     WHERE dm.alias = $2 AND dm.deleted_at IS NULL
  )
  SELECT (SELECT row_to_json(k) FROM k) AS key,
         (SELECT row_to_json(m) FROM m) AS model,
         coalesce((SELECT ${ALLOWED_SQL.replace("$MODEL", 'm."modelId"').replace("$USER", 'k."userId"')} FROM k, m), false) AS allowed,
         coalesce((SELECT (${BALANCE_SQL.replace("$USER", 'k."userId"')}) > 0 FROM k), false) AS "hasCredit"`;

type TariffJson = Parameters<typeof tariffFromRow>[0];
type AccessJson = Omit<AccessRow, "model"> & { model: (Omit<ModelRecord, "tariffs" | "cacheTariffs"> & { tariffs: TariffJson[]; cacheTariffs: CacheTariffRow[] }) | null };

export async function lookupAccess(pool: Pool, keyHash: string, alias: string): Promise<AccessRow> {
  const { rows } = await pool.query<AccessJson>(ACCESS_SQL, [keyHash, alias]);
  const row = rows[0];
  if (!row) return { key: null, model: null, allowed: false, hasCredit: false };
  return { ...row, model: row.model && { ...row.model, tariffs: row.model.tariffs.map(tariffFromRow), cacheTariffs: row.model.cacheTariffs.map(cacheTariffFromRow) } };
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
