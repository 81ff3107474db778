/**
 * `/users/{user_id}/api-keys`: a user's keys. The secret is returned once, at creation (or
 * rotation); only its SHA-256 and a display prefix are stored, and neither the hash nor the secret
 * is ever listed.
 *
 * Deletion is soft (the row stays for analytics and audit). The gateway trusts its per-isolate key
 * cache for `ACCESS_CACHE_TTL_MS`, so a deleted or rotated-away key stops working within that time.
 *
 * Who may do what beyond seeing the owner: `platform` keys (admin roles) and `batch` keys (their
 * batch headers choose the tariff) are minted by platform managers only. An organization's key is
 * rotated or deleted by its creator, the organization's owners and admins, or a manager; to any
 * other member it answers 404, as a missing key does (rotating is taking the key over).
 */
import type { Context } from "hono";
import * as z from "zod";
import { API_KEY_PURPOSES, displayPrefix, generateApiKey, hashApiKey } from "../../../../shared/api-keys.ts";
import { ApiError } from "../../../../shared/errors.ts";
import { SYSTEM_USER_ID } from "../auth/sessions.ts";
import { currentOwner, type Actor, type AdminApp } from "./principal.ts";
import { visibleUser } from "./users.ts";
import { notFound, Pagination, RateLimitFields, type Page, type AdminInput } from "./validation.ts";

export const ApiKeyView = z.object({
  id: z.uuid(),
  name: z.string(),
  key_prefix: z.string().describe("The first characters of the key, for recognising it"),
  purpose: z.enum(API_KEY_PURPOSES),
  user_id: z.uuid(),
  created_by: z.uuid(),
  requests_per_second: z.number().nullable(),
  burst_size: z.number().int().nullable(),
  created_at: z.iso.datetime(),
  last_used_at: z.iso.datetime().nullable(),
});
export type ApiKeyView = z.output<typeof ApiKeyView>;
/** Creation and rotation only: the one time the secret is shown. */
export const ApiKeyWithSecret = ApiKeyView.extend({ key: z.string().describe("The secret; shown only in this response") });

type KeyRow = Omit<ApiKeyView, "created_at" | "last_used_at"> & { created_at: Date | string; last_used_at: Date | string | null };

// Listed columns, spelled out: key_hash must never be selected into a response.
const KEY_COLUMNS = `id, name, key_prefix, purpose, user_id, created_by, requests_per_second::float8 AS requests_per_second,
  burst_size, created_at, last_used_at`;

function toView(row: KeyRow): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    key_prefix: row.key_prefix,
    purpose: row.purpose,
    user_id: row.user_id,
    created_by: row.created_by,
    requests_per_second: row.requests_per_second,
    burst_size: row.burst_size,
    created_at: new Date(row.created_at).toISOString(),
    last_used_at: row.last_used_at === null ? null : new Date(row.last_used_at).toISOString(),
  };
}

/** `{user_id}`: a user id, or `current` for the caller (or their active organization; the ADMIN_TOKEN has none). */
function ownerId(c: Context<AdminApp>, userId: string): string {
  if (userId !== "current") return userId;
  // In organization context, `current` is the organization the caller acts for.
  const owner = currentOwner(c.get("actor"));
  if (owner === null) throw notFound("user", "current");
  return owner;
}

export async function listApiKeys(c: Context<AdminApp>, parsed: AdminInput<"user_id", typeof Pagination>): Promise<Response> {
  const userId = ownerId(c, parsed.params.user_id);
  const { skip, limit } = parsed.query;
  await visibleUser(c.get("db"), c.get("actor"), userId);
  // One after the other: an admin request holds at most one connection.
  const page = await c.get("db").query<KeyRow>(
    `SELECT ${KEY_COLUMNS} FROM api_keys WHERE user_id = $1 AND NOT is_deleted ORDER BY created_at DESC, id LIMIT $2 OFFSET $3`,
    [userId, limit, skip],
  );
  const count = await c.get("db").query<{ n: number }>("SELECT count(*)::int AS n FROM api_keys WHERE user_id = $1 AND NOT is_deleted", [userId]);
  const body: Page<ApiKeyView> = { data: page.rows.map(toView), total_count: count.rows[0]?.n ?? 0, skip, limit };
  return c.json(body);
}

export const CreateKey = z.strictObject({
  name: z.string().trim().min(1).max(200),
  purpose: z.enum(API_KEY_PURPOSES).optional().default("realtime"),
  ...RateLimitFields,
});

export async function createApiKey(c: Context<AdminApp>, parsed: AdminInput<"user_id", undefined, typeof CreateKey>): Promise<Response> {
  const userId = ownerId(c, parsed.params.user_id);
  const input = parsed.body;
  const actor = c.get("actor");
  // Its only credential is the ADMIN_TOKEN, so rotating that secret locks it out completely.
  if (userId === SYSTEM_USER_ID) throw new ApiError("invalid_request_error", "The built-in system user (the ADMIN_TOKEN) owns no API keys; create them for a user.", { param: "user_id" });
  await visibleUser(c.get("db"), actor, userId);
  // A platform key opens the admin API with its owner's roles; only managers hand those out.
  if ((input.purpose === "platform" || input.purpose === "batch") && !actor.isManager) {
    throw new ApiError("permission_denied", `Only a platform_manager may create ${input.purpose} keys.`, { param: "purpose" });
  }
  const key = generateApiKey();
  const { rows } = await c.get("db").query<KeyRow>(
    `INSERT INTO api_keys (name, key_hash, key_prefix, user_id, created_by, purpose, requests_per_second, burst_size)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${KEY_COLUMNS}`,
    [
      input.name,
      await hashApiKey(key),
      displayPrefix(key),
      userId,
      actor.userId,
      input.purpose,
      input.requests_per_second ?? null,
      input.burst_size ?? null,
    ],
  );
  return c.json({ ...toView(rows[0]!), key }, 201);
}

/**
 * Null when the actor may change any of `userId`'s keys (their own, a manager, an organization's
 * owner or admin); else the user whose keys alone they may change (the ones they created).
 */
function restrictedToCreator(actor: Actor, userId: string): string | null {
  if (actor.isManager || actor.userId === userId) return null;
  if (actor.activeOrganization === userId && (actor.orgRole === "owner" || actor.orgRole === "admin")) return null;
  // A member acting for the organization (or, defensively, anyone else who got this far).
  return actor.userId ?? crypto.randomUUID();
}

export async function deleteApiKey(c: Context<AdminApp>, parsed: AdminInput<"user_id" | "id">): Promise<Response> {
  const userId = ownerId(c, parsed.params.user_id);
  const keyId = parsed.params.id;
  const actor = c.get("actor");
  await visibleUser(c.get("db"), actor, userId);
  const { rows } = await c.get("db").query<{ id: string }>(
    `UPDATE api_keys SET is_deleted = true, deleted_at = now()
      WHERE id = $1 AND user_id = $2 AND NOT is_deleted AND ($3::uuid IS NULL OR created_by = $3) RETURNING id`,
    [keyId, userId, restrictedToCreator(actor, userId)],
  );
  if (rows.length === 0) throw notFound("API key", keyId);
  return c.body(null, 204);
}

/** A new secret for the same key id (name, purpose, limits kept); the old secret stops within the TTL. */
export async function rotateApiKey(c: Context<AdminApp>, parsed: AdminInput<"user_id" | "id">): Promise<Response> {
  const userId = ownerId(c, parsed.params.user_id);
  const keyId = parsed.params.id;
  const actor = c.get("actor");
  await visibleUser(c.get("db"), actor, userId);
  const key = generateApiKey();
  const { rows } = await c.get("db").query<KeyRow>(
    `UPDATE api_keys SET key_hash = $1, key_prefix = $2
      WHERE id = $3 AND user_id = $4 AND NOT is_deleted AND ($5::uuid IS NULL OR created_by = $5) RETURNING ${KEY_COLUMNS}`,
    [await hashApiKey(key), displayPrefix(key), keyId, userId, restrictedToCreator(actor, userId)],
  );
  if (!rows[0]) throw notFound("API key", keyId);
  return c.json({ ...toView(rows[0]), key });
}
