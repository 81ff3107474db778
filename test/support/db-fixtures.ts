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
  o: { url: string; modelName?: string; open?: boolean; apiKeyEncrypted?: string | null; authHeaderName?: string; authHeaderPrefix?: string },
): Promise<ModelFixture> {
  const alias = `model-${unique()}`;
  const ep = await db.query<{ id: string }>(
    `INSERT INTO inference_endpoints (name, url, api_key_encrypted, auth_header_name, auth_header_prefix)
     VALUES ($1, $2, $3, $4, $5) RETURNING id`,
    [`ep-${alias}`, o.url, o.apiKeyEncrypted ?? null, o.authHeaderName ?? "Authorization", o.authHeaderPrefix ?? "Bearer "],
  );
  const endpointId = ep.rows[0]!.id;
  const m = await db.query<{ id: string }>("INSERT INTO deployed_models (model_name, alias, hosted_on) VALUES ($1, $2, $3) RETURNING id", [
    o.modelName ?? "mock-gpt",
    alias,
    endpointId,
  ]);
  const modelId = m.rows[0]!.id;
  if (o.open ?? true) await db.query("INSERT INTO deployment_groups (deployment_id, group_id) VALUES ($1, $2)", [modelId, EVERYONE_GROUP]);
  return { modelId, alias, endpointId };
}
