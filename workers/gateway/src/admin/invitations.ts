/**
 * Invitations by link to an organization. Its owners and admins (or a manager) create one
 * (`/invite?token=…`, valid 7 days, for the `member` or `admin` role, optionally for one email);
 * any signed-in user holding the link can read what it offers and accept it once, joining with
 * that role. Only the token's SHA-256 is stored; an unknown, expired or used token is a 404.
 */
import type { Context } from "hono";
import * as z from "zod";
import { hashToken, newSecretToken } from "../../../../shared/auth/tokens.ts";
import { withTransaction } from "../../../../shared/db.ts";
import { ApiError } from "../../../../shared/errors.ts";
import { SYSTEM_USER_ID } from "../auth/sessions.ts";
import type { MemberView } from "./organizations.ts";
import { organizationRole, type AdminApp } from "./principal.ts";
import { ConflictError, pathKeySchema, type AdminInput } from "./validation.ts";

export const INVITATION_DAYS = 7;
const INVITABLE_ROLES = ["member", "admin"] as const;

export const CreateInvitation = z.strictObject({
  role: z.enum(INVITABLE_ROLES).optional().default("member"),
  email: z.email().max(320).optional().describe("Only the user with this email may accept"),
});

export const InvitationCreated = z.object({
  id: z.uuid(),
  url: z.string().describe("Relative console URL carrying the one-time token; shown once"),
  role: z.enum(INVITABLE_ROLES),
  expires_at: z.iso.datetime(),
});

export const InvitationView = z.object({
  organization: z.object({ id: z.uuid(), name: z.string() }),
  role: z.enum(INVITABLE_ROLES),
  expires_at: z.iso.datetime(),
});

export async function createInvitation(c: Context<AdminApp>, parsed: AdminInput<"id", undefined, typeof CreateInvitation>): Promise<Response> {
  const actor = c.get("actor");
  const orgId = parsed.params.id;
  const input = parsed.body;
  const role = await organizationRole(c.get("db"), actor, orgId);
  if (!actor.isManager && role !== "owner" && role !== "admin") {
    throw new ApiError("permission_denied", "Inviting members needs the owner or admin role in this organization.");
  }
  const token = newSecretToken();
  const { rows } = await c.get("db").query<{ id: string; expires_at: Date | string }>(
    `INSERT INTO organization_invitations (token_hash, organization_id, role, email, created_by, expires_at)
     VALUES ($1, $2, $3, $4, $5, now() + make_interval(days => $6::int)) RETURNING id, expires_at`,
    [await hashToken(token), orgId, input.role, input.email?.toLowerCase() ?? null, actor.userId, INVITATION_DAYS],
  );
  const row = rows[0]!;
  c.header("cache-control", "no-store");
  const body: z.output<typeof InvitationCreated> = { id: row.id, url: `/invite?token=${token}`, role: input.role, expires_at: new Date(row.expires_at).toISOString() };
  return c.json(body, 201);
}

type InvitationRow = { id: string; organization_id: string; name: string; role: "member" | "admin"; email: string | null; expires_at: Date | string };

const OPEN_INVITATION = `
  SELECT i.id, i.organization_id, o.username AS name, i.role, i.email, i.expires_at
    FROM organization_invitations i JOIN users o ON o.id = i.organization_id AND o.deleted_at IS NULL
   WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.expires_at > now()`;

function invitationNotFound(): ApiError {
  return new ApiError("not_found", "No open invitation for this link: it may have expired or been used already. Ask for a new one.");
}

/** `{token}` of /invitations/{token}: the link's token (anything else is the 404 a used one gets). */
export const InvitationToken = pathKeySchema(/^[A-Za-z0-9_-]{20,100}$/, () => invitationNotFound());

export async function getInvitation(c: Context<AdminApp>, parsed: AdminInput<"token">): Promise<Response> {
  const { rows } = await c.get("db").query<InvitationRow>(OPEN_INVITATION, [await hashToken(parsed.params.token)]);
  const row = rows[0];
  if (!row) throw invitationNotFound();
  const body: z.output<typeof InvitationView> = { organization: { id: row.organization_id, name: row.name }, role: row.role, expires_at: new Date(row.expires_at).toISOString() };
  return c.json(body);
}

export async function acceptInvitation(c: Context<AdminApp>, parsed: AdminInput<"token">): Promise<Response> {
  const actor = c.get("actor");
  if (actor.userId === SYSTEM_USER_ID) throw new ApiError("permission_denied", "The built-in system user (the ADMIN_TOKEN) cannot join organizations; sign in as yourself.");
  const tokenHash = await hashToken(parsed.params.token);
  const member = await withTransaction(c.get("db"), async (client) => {
    const { rows } = await client.query<InvitationRow>(`${OPEN_INVITATION} FOR UPDATE OF i`, [tokenHash]);
    const invitation = rows[0];
    if (!invitation) throw invitationNotFound();
    const me = await client.query<{ email: string; user_type: string }>("SELECT email, user_type FROM users WHERE id = $1", [actor.userId]);
    if (me.rows[0]?.user_type !== "individual") throw new ApiError("permission_denied", "Only people join organizations.");
    if (invitation.email !== null && invitation.email !== me.rows[0].email.toLowerCase()) {
      throw new ApiError("permission_denied", "This invitation is for another email address.");
    }
    const joined = await client.query<{ created_at: Date | string }>(
      `INSERT INTO user_organizations (user_id, organization_id, role) VALUES ($1, $2, $3)
       ON CONFLICT (user_id, organization_id) DO NOTHING RETURNING created_at`,
      [actor.userId, invitation.organization_id, invitation.role],
    );
    if (!joined.rows[0]) throw new ConflictError("You are already a member of this organization.", null);
    await client.query("UPDATE organization_invitations SET accepted_at = now(), accepted_by = $2 WHERE id = $1", [invitation.id, actor.userId]);
    const { rows: people } = await client.query<{ username: string; email: string; display_name: string | null }>(
      "SELECT username, email, display_name FROM users WHERE id = $1",
      [actor.userId],
    );
    const person = people[0]!;
    const view: MemberView = { user_id: actor.userId, ...person, role: invitation.role, joined_at: new Date(joined.rows[0].created_at).toISOString() };
    return view;
  });
  return c.json(member);
}
