/**
 * `api_keys.last_used_at`: the time of a key's latest request, at minute resolution. Written by
 * the consumer after a batch's usage, at most once a minute per key: the UPDATE touches only keys
 * whose stored time is more than a minute older than the batch's latest request for them (an
 * unchanged row is not rewritten, so steady traffic adds no dead tuples), and an isolate skips the
 * statement altogether for keys it stamped less than a minute ago.
 */
import { errorMessage } from "../../../shared/errors.ts";
import type { SqlClient } from "../../../shared/sql/client.ts";
import type { UsageMessage } from "../../../shared/usage-message.ts";

export const LAST_USED_RESOLUTION_MS = 60_000;

/** key id → the request time this isolate last wrote for it (pure data; bounded). */
const stamped = new Map<string, number>();
const MAX_STAMPED = 10_000;

/** The latest request time per key among `messages` whose key this isolate has not stamped within the minute. */
export function keysToStamp(messages: readonly UsageMessage[], memo: Map<string, number> = stamped): Map<string, number> {
  const latest = new Map<string, number>();
  for (const m of messages) {
    if (m.api_key_id === null) continue;
    const at = Date.parse(m.timestamp);
    if (at > (latest.get(m.api_key_id) ?? -Infinity)) latest.set(m.api_key_id, at);
  }
  for (const [id, at] of latest) {
    if (at - (memo.get(id) ?? -Infinity) < LAST_USED_RESOLUTION_MS) latest.delete(id);
  }
  return latest;
}

/**
 * Stamps the batch's keys. Best effort: last use is informational, so a failure is logged and
 * never fails (or retries) the batch whose usage is already committed.
 */
export async function markKeysUsed(client: SqlClient, messages: readonly UsageMessage[], memo: Map<string, number> = stamped): Promise<number> {
  const due = keysToStamp(messages, memo);
  if (due.size === 0) return 0;
  try {
    const ids = [...due.keys()];
    const { rows } = await client.query<{ id: string }>(
      `UPDATE api_keys k SET last_used_at = u.at
         FROM (SELECT unnest($1::uuid[]) AS id, unnest($2::timestamptz[]) AS at) u
        WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at - interval '1 minute')
        RETURNING k.id`,
      [ids, ids.map((id) => new Date(due.get(id)!).toISOString())],
    );
    if (memo.size + due.size > MAX_STAMPED) memo.clear();
    for (const [id, at] of due) memo.set(id, at);
    return rows.length;
  } catch (err) {
    console.warn(`api_keys.last_used_at not updated: ${errorMessage(err)}`);
    return 0;
  }
}
