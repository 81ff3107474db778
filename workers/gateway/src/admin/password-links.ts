/**
 * `POST /users/{id}/password-link` (managers): a one-time link with which a user sets their
 * console password (`/set-password?token=…`, valid 24 hours). Only the token's SHA-256 is
 * stored; a new link replaces any unused earlier one. The built-in system user and
 * organizations never sign in with a password.
 */
import type { Context } from "hono";
import * as z from "zod";
import { hashToken, newSecretToken } from "../../../../shared/auth/tokens.ts";
import { withTransaction } from "../../../../shared/db.ts";
import { ApiError } from "../../../../shared/errors.ts";
import { SYSTEM_USER_ID } from "../auth/sessions.ts";
import type { AdminApp } from "./principal.ts";
import { findUser } from "./users.ts";
import { notFound, type AdminInput } from "./validation.ts";

export const PASSWORD_LINK_HOURS = 24;

export const PasswordLink = z.object({
  url: z.string().describe("Relative console URL carrying the one-time token; shown once"),
  expires_at: z.iso.datetime(),
});

export async function createPasswordLink(c: Context<AdminApp>, parsed: AdminInput<"id">): Promise<Response> {
  const actor = c.get("actor");
  const id = parsed.params.id;
  if (id === SYSTEM_USER_ID) throw new ApiError("permission_denied", "The built-in system user signs in only with the ADMIN_TOKEN, never with a password.");
  const user = await findUser(c.get("db"), id);
  if (!user) throw notFound("user", id);
  if (user.user_type !== "individual") throw new ApiError("invalid_request_error", "Organizations do not sign in; send the link to one of their members instead.");
  const token = newSecretToken();
  const expiresAt = await withTransaction(c.get("db"), async (client) => {
    await client.query("UPDATE password_tokens SET used_at = now() WHERE user_id = $1 AND used_at IS NULL", [id]);
    const { rows } = await client.query<{ expires_at: Date | string }>(
      `INSERT INTO password_tokens (token_hash, user_id, created_by, expires_at)
       VALUES ($1, $2, $3, now() + make_interval(hours => $4::int)) RETURNING expires_at`,
      [await hashToken(token), id, actor.userId, PASSWORD_LINK_HOURS],
    );
    return new Date(rows[0]!.expires_at);
  });
  c.header("cache-control", "no-store");
  return c.json({ url: `/set-password?token=${token}`, expires_at: expiresAt.toISOString() }, 201);
}
