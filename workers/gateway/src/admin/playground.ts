/**
 * `POST /playground/key`: the key the console's playground chats with. Each caller has one
 * `playground`-purpose key named "Console playground" per billing owner (themselves, or the
 * organization they act for), and every call gives it a new secret: the console keeps the secret
 * in memory only and asks again after a reload, and the previous secret stops working (within the
 * gateway's ACCESS_CACHE_TTL_MS, as for any rotation). Usage on it is recorded with
 * request_origin `frontend` and priced at the model's playground tariff (else realtime).
 */
import type { Context } from "hono";
import * as z from "zod";
import { displayPrefix, generateApiKey, hashApiKey } from "../../../../shared/api-keys.ts";
import { ApiError } from "../../../../shared/errors.ts";
import { SYSTEM_USER_ID } from "../auth/sessions.ts";
import { currentOwner, type AdminApp } from "./principal.ts";

export const PLAYGROUND_KEY_NAME = "Console playground";

export const PlaygroundKey = z.object({
  key: z.string().describe("The secret; shown only in this response. The previous one stops working"),
  key_id: z.uuid(),
  expires_at: z.iso.datetime().nullable().describe("Always null: the key does not expire; the next call rotates it"),
});
export type PlaygroundKey = z.output<typeof PlaygroundKey>;

export async function issuePlaygroundKey(c: Context<AdminApp>): Promise<Response> {
  const actor = c.get("actor");
  const owner = currentOwner(actor);
  if (owner === SYSTEM_USER_ID) {
    throw new ApiError("invalid_request_error", "The ADMIN_TOKEN's built-in system user owns no keys, so it has no playground key: sign in as a user (or use a platform key).");
  }
  const key = generateApiKey();
  // One statement: the partial unique index (migration 1796400000000) makes two concurrent calls
  // rotate the same row instead of creating two keys.
  const { rows } = await c.get("db").query<{ id: string }>(
    `INSERT INTO api_keys (name, key_hash, key_prefix, user_id, created_by, purpose)
     VALUES ($1, $2, $3, $4, $5, 'playground')
     ON CONFLICT (user_id, created_by) WHERE purpose = 'playground' AND name = '${PLAYGROUND_KEY_NAME}' AND NOT is_deleted
     DO UPDATE SET key_hash = EXCLUDED.key_hash, key_prefix = EXCLUDED.key_prefix
     RETURNING id`,
    [PLAYGROUND_KEY_NAME, await hashApiKey(key), displayPrefix(key), owner, actor.userId],
  );
  const body: PlaygroundKey = { key, key_id: rows[0]!.id, expires_at: null };
  return c.json(body);
}
