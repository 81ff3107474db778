/**
 * Sign-in and sessions (CONSOLE-CONTRACT.md): the session lives in an HttpOnly cookie the SPA
 * never sees; the SPA asks `/admin/auth/session` who it is at boot.
 */
import * as z from "zod";
import { ApiError, call, errorFrom, setBearerToken } from "./client";

export const ROLES = ["platform_manager", "billing_manager", "request_viewer", "standard_user"] as const;
export type Role = (typeof ROLES)[number];

export const SessionUser = z.object({
  id: z.string().nullable(),
  username: z.string(),
  email: z.string().nullable(),
  display_name: z.string().nullable(),
  user_type: z.string(),
  roles: z.array(z.string()),
  balance: z.string().nullable(),
});
export type SessionUser = z.infer<typeof SessionUser>;

export const Session = z.object({
  user: SessionUser,
  via: z.string(),
  expires_at: z.string().nullable().optional(),
});
export type Session = z.infer<typeof Session>;

export const AuthConfig = z.object({
  password: z.boolean(),
  access: z.object({ enabled: z.boolean(), team_domain: z.string().nullable() }),
});
export type AuthConfig = z.infer<typeof AuthConfig>;

/** Whether this gateway has cookie sessions; older ones only take bearer tokens. */
let sessionsSupported = true;

export async function authConfig(): Promise<AuthConfig> {
  const res = await fetch("/admin/auth/config", { credentials: "same-origin" });
  // The config is public; a gateway without sessions answers it 404, or 401 from its admin door.
  if (res.status === 404 || res.status === 401) {
    sessionsSupported = false;
    return { password: false, access: { enabled: false, team_domain: null } };
  }
  if (!res.ok) throw await errorFrom(res);
  sessionsSupported = true;
  return AuthConfig.parse(await res.json());
}

async function currentUserWithBearer(): Promise<Session> {
  const user = await call("GET", "/admin/api/v1/users/current", (v) => SessionUser.parse(v), undefined, { organization: false });
  return { user, via: "token", expires_at: null };
}

export async function fetchSession(): Promise<Session | null> {
  if (!sessionsSupported) {
    try {
      return await currentUserWithBearer();
    } catch {
      return null;
    }
  }
  const res = await fetch("/admin/auth/session", { credentials: "same-origin" });
  if (res.status === 401 || res.status === 403) return null;
  if (res.status === 404) {
    sessionsSupported = false;
    return null;
  }
  if (!res.ok) throw await errorFrom(res);
  return Session.parse(await res.json());
}

export async function signIn(credentials: { token: string } | { email: string; password: string }): Promise<Session> {
  if (!sessionsSupported) {
    if (!("token" in credentials)) throw new ApiError(400, "This gateway accepts token sign-in only.");
    setBearerToken(credentials.token);
    try {
      return await currentUserWithBearer();
    } catch (err) {
      setBearerToken(null);
      throw err;
    }
  }
  return call("POST", "/admin/auth/sign-in", (v) => Session.parse(v), credentials, { organization: false });
}

export async function signOut(): Promise<void> {
  setBearerToken(null);
  if (!sessionsSupported) return;
  await call("POST", "/admin/auth/sign-out", () => undefined, undefined, { organization: false });
}

export async function setPassword(token: string, password: string): Promise<Session> {
  return call("POST", "/admin/auth/password", (v) => Session.parse(v), { token, password }, { organization: false });
}

export const Invitation = z.object({
  organization: z.object({ id: z.string(), name: z.string() }),
  role: z.string(),
  expires_at: z.string(),
});
export type Invitation = z.infer<typeof Invitation>;

export function getInvitation(token: string): Promise<Invitation> {
  return call("GET", `/admin/api/v1/invitations/${encodeURIComponent(token)}`, (v) => Invitation.parse(v), undefined, { organization: false });
}
export function acceptInvitation(token: string): Promise<unknown> {
  return call("POST", `/admin/api/v1/invitations/${encodeURIComponent(token)}/accept`, (v) => v, undefined, { organization: false });
}

/** The built-in system user the ADMIN_TOKEN acts as: it holds no credits and owns nothing. */
export const SYSTEM_USER_ID = "00000000-0000-0000-0000-000000000000";
export const isSystemUser = (s: Session | null) => s?.user.id === SYSTEM_USER_ID;

export function hasRole(session: Session | null, ...roles: Role[]): boolean {
  return !!session && session.user.roles.some((r) => (roles as readonly string[]).includes(r));
}
/** Sees everyone's usage (analytics viewer roles). */
export const seesAll = (s: Session | null) => hasRole(s, "platform_manager", "billing_manager", "request_viewer");
export const isManager = (s: Session | null) => hasRole(s, "platform_manager");
export const managesCredits = (s: Session | null) => hasRole(s, "platform_manager", "billing_manager");
/** May list every user (platform managers; billing managers, read-only, to pick whom to credit). */
export const readsAllUsers = managesCredits;
