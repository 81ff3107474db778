/**
 * SQL for stored responses (the `requests` table): the consumer's batch insert, and the owner-
 * scoped reads and deletes behind `GET|DELETE /ai/v1/responses/{id}`. Every query of a single row
 * names its owner, so another user's id behaves exactly like an id that does not exist.
 */
import type { ResponseMessage } from "../response-message.ts";
import type { SqlClient } from "./client.ts";
import { inTransaction } from "./client.ts";
import { unnestInsert, type Column } from "./unnest-insert.ts";

export interface OwnedResponse {
  message: ResponseMessage;
  /** The key owner's user id (the billing principal). */
  createdBy: string;
}

const COLUMNS: readonly Column<OwnedResponse>[] = [
  ["id", "text", (r) => r.message.id],
  ["created_by", "uuid", (r) => r.createdBy],
  ["api_key_id", "uuid", (r) => r.message.api_key_id],
  ["event_id", "uuid", (r) => r.message.event_id],
  ["model", "text", (r) => r.message.model],
  ["status", "text", (r) => r.message.status],
  ["service_tier", "text", (r) => r.message.service_tier],
  ["response_status", "int4", (r) => r.message.response_status],
  ["request_body", "text", (r) => r.message.request_body],
  ["response_body", "text", (r) => r.message.response_body],
  ["body_object_key", "text", (r) => r.message.body_object_key],
  ["previous_response_id", "text", (r) => r.message.previous_response_id],
  ["created_at", "timestamptz", (r) => r.message.created_at],
  ["completed_at", "timestamptz", (r) => r.message.completed_at],
  ["duration_ms", "int8", (r) => r.message.duration_ms],
];

/**
 * One id's lock, taken by the consumer's insert and by the owner's DELETE: whichever comes second
 * sees what the first committed, so a DELETE racing the row's arrival never lets it reappear.
 * (Row locks cannot do this: the DELETE cannot see, and so cannot wait for, an uncommitted insert.)
 */
const LOCK_IDS = `SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(id, 7001) AS k FROM unnest($1::text[]) AS id ORDER BY k) AS ordered`;

export interface InsertResponsesOutcome {
  /** Ids written now. */
  stored: string[];
  /** Rows not written because their owner deleted the response first (served from the live copy). */
  deleted: OwnedResponse[];
}

/**
 * Inserts the batch in one transaction; a redelivered id is skipped (ON CONFLICT DO NOTHING), and
 * so is one its owner has already deleted (a tombstone in `deleted_responses`).
 */
export async function insertResponses(client: SqlClient, rows: readonly OwnedResponse[]): Promise<InsertResponsesOutcome> {
  if (rows.length === 0) return { stored: [], deleted: [] };
  return inTransaction(client, async () => {
    await client.query(LOCK_IDS, [rows.map((r) => r.message.id)]);
    const { rows: tombstones } = await client.query<{ id: string; created_by: string }>(
      "SELECT id, created_by::text AS created_by FROM deleted_responses WHERE id = ANY($1::text[])",
      [rows.map((r) => r.message.id)],
    );
    const gone = new Set(tombstones.map((t) => `${t.id} ${t.created_by.toLowerCase()}`));
    const isGone = (r: OwnedResponse) => gone.has(`${r.message.id} ${r.createdBy.toLowerCase()}`);
    const live = rows.filter((r) => !isGone(r));
    const deleted = rows.filter(isGone);
    if (live.length === 0) return { stored: [], deleted };
    const q = unnestInsert("requests", COLUMNS, live, "ON CONFLICT (id) DO NOTHING RETURNING id");
    return { stored: (await client.query<{ id: string }>(q.text, q.values)).rows.map((r) => r.id), deleted };
  });
}

/** api_key_id → owner user id, for the keys that exist (deleted keys included: they still own). */
export async function keyOwners(client: SqlClient, keyIds: readonly string[]): Promise<Map<string, string>> {
  const ids = [...new Set(keyIds.map((id) => id.toLowerCase()))];
  const owners = new Map<string, string>();
  if (ids.length === 0) return owners;
  const { rows } = await client.query<{ id: string; user_id: string }>("SELECT id::text AS id, user_id::text AS user_id FROM api_keys WHERE id = ANY($1::uuid[])", [ids]);
  for (const row of rows) owners.set(row.id, row.user_id);
  return owners;
}

export type StoredResponseRow = {
  id: string;
  response_body: string | null;
  request_body: string | null;
  body_object_key: string | null;
};

/**
 * The owner's stored response, or null (unknown id and another owner's id alike). A batch request's
 * row is not a Responses API object: the Batches API's output file is where it is read.
 */
export async function findOwnedResponse(client: SqlClient, id: string, ownerId: string): Promise<StoredResponseRow | null> {
  const { rows } = await client.query<StoredResponseRow>(
    "SELECT id, response_body, request_body, body_object_key FROM requests WHERE id = $1 AND created_by = $2::uuid AND batch_id IS NULL",
    [id, ownerId],
  );
  return rows[0] ?? null;
}

/** Tombstones older than this are purged (far beyond the queue's retries and any replay). */
const TOMBSTONE_DAYS = 30;

/**
 * Deletes the owner's stored response; returns what was deleted (its R2 key, if any) or null.
 * `mayArrive`: the response's row may still be on its way (its live copy exists), so a tombstone
 * is left for the consumer to honour. Also purges a few expired tombstones.
 */
export async function deleteOwnedResponse(
  client: SqlClient,
  id: string,
  ownerId: string,
  mayArrive: boolean,
): Promise<{ id: string; body_object_key: string | null } | null> {
  return inTransaction(client, async () => {
    await client.query(LOCK_IDS, [[id]]);
    if (mayArrive) {
      await client.query("INSERT INTO deleted_responses (id, created_by) VALUES ($1, $2::uuid) ON CONFLICT DO NOTHING", [id, ownerId]);
      await client.query(
        `DELETE FROM deleted_responses WHERE ctid = ANY(ARRAY(SELECT ctid FROM deleted_responses WHERE deleted_at < now() - make_interval(days => $1) LIMIT 100))`,
        [TOMBSTONE_DAYS],
      );
    }
    const { rows } = await client.query<{ id: string; body_object_key: string | null }>(
      "DELETE FROM requests WHERE id = $1 AND created_by = $2::uuid RETURNING id, body_object_key",
      [id, ownerId],
    );
    return rows[0] ?? null;
  });
}
