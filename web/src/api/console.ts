/**
 * Admin endpoints the console contract adds for it ([console-api] in CONSOLE-CONTRACT.md), parsed
 * with zod until the committed API types include them.
 */
import * as z from "zod";
import { call } from "./client";

export const EndpointTest = z.object({
  ok: z.boolean(),
  status: z.number().nullable(),
  latency_ms: z.number(),
  models: z.array(z.string()),
  error: z.string().nullable(),
});
export type EndpointTest = z.infer<typeof EndpointTest>;
export const testEndpoint = (id: string) => call("POST", `/admin/api/v1/endpoints/${id}/test`, (v) => EndpointTest.parse(v));

const Group = z.object({ id: z.string(), name: z.string(), description: z.string().nullable().optional(), builtin: z.boolean().optional() });
export const modelGroups = (id: string) =>
  call("GET", `/admin/api/v1/models/${id}/groups?limit=100`, (v) => z.object({ data: z.array(Group) }).parse(v).data);

export const PlaygroundKey = z.object({ key: z.string(), key_id: z.string(), expires_at: z.string().nullable().optional() });
export type PlaygroundKey = z.infer<typeof PlaygroundKey>;
export const playgroundKey = () => call("POST", "/admin/api/v1/playground/key", (v) => PlaygroundKey.parse(v));

export const PasswordLink = z.object({ url: z.string(), expires_at: z.string() });
export const passwordLink = (userId: string) => call("POST", `/admin/api/v1/users/${userId}/password-link`, (v) => PasswordLink.parse(v));

export const InvitationLink = z.object({ id: z.string(), url: z.string(), role: z.string(), expires_at: z.string() });
export const inviteToOrganization = (orgId: string, role: "member" | "admin", email?: string) =>
  call("POST", `/admin/api/v1/organizations/${orgId}/invitations`, (v) => InvitationLink.parse(v), { role, ...(email ? { email } : {}) });
