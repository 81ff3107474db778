/**
 * The gateway's reads from Postgres: an API key by hash, and a model alias with its endpoint and
 * whether the key's owner may use it.
 */
import type { Pool } from "../../../shared/db.ts";
import type { ApiKeyPurpose } from "../../../shared/api-keys.ts";

export interface KeyRecord {
  id: string;
  userId: string;
  purpose: ApiKeyPurpose;
}

export interface RouteRecord {
  modelId: string;
  alias: string;
  modelName: string;
  endpointName: string;
  url: string;
  apiKeyEncrypted: string | null;
  authHeaderName: string;
  authHeaderPrefix: string;
  allowed: boolean;
}

const EVERYONE_GROUP = "00000000-0000-0000-0000-000000000000";

export async function findKeyByHash(pool: Pool, keyHash: string): Promise<KeyRecord | null> {
  const { rows } = await pool.query<{ id: string; user_id: string; purpose: ApiKeyPurpose }>(
    "SELECT id, user_id, purpose FROM api_keys WHERE key_hash = $1 AND NOT is_deleted",
    [keyHash],
  );
  const row = rows[0];
  return row ? { id: row.id, userId: row.user_id, purpose: row.purpose } : null;
}

export async function findRoute(pool: Pool, alias: string, userId: string): Promise<RouteRecord | null> {
  const { rows } = await pool.query<{
    model_id: string;
    alias: string;
    model_name: string;
    endpoint_name: string;
    url: string;
    api_key_encrypted: string | null;
    auth_header_name: string;
    auth_header_prefix: string;
    allowed: boolean;
  }>(
    `SELECT dm.id AS model_id, dm.alias, dm.model_name, ie.name AS endpoint_name, ie.url,
            ie.api_key_encrypted, ie.auth_header_name, ie.auth_header_prefix,
            EXISTS (
              SELECT 1 FROM deployment_groups dg
              WHERE dg.deployment_id = dm.id
                AND (dg.group_id = $3 OR dg.group_id IN (SELECT group_id FROM user_groups WHERE user_id = $2))
            ) AS allowed
       FROM deployed_models dm
       JOIN inference_endpoints ie ON ie.id = dm.hosted_on
      WHERE dm.alias = $1 AND dm.deleted_at IS NULL`,
    [alias, userId, EVERYONE_GROUP],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    modelId: row.model_id,
    alias: row.alias,
    modelName: row.model_name,
    endpointName: row.endpoint_name,
    url: row.url,
    apiKeyEncrypted: row.api_key_encrypted,
    authHeaderName: row.auth_header_name,
    authHeaderPrefix: row.auth_header_prefix,
    allowed: row.allowed,
  };
}
