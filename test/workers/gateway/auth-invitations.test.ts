/**
 * Organization invitations by link: created by owners and admins, read and accepted once by any
 * signed-in user (the console, with its session cookie, or a platform key), optionally only by
 * the invited email.
 */
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { api, ok, principal, suffix, type Principal } from "./admin-helpers.ts";
import { consoleApi, signIn } from "./auth-helpers.ts";
import { expectError } from "./helpers.ts";

let alice: Principal;
let orgId: string;

interface Invitation {
  id: string;
  url: string;
  role: string;
  expires_at: string;
}

const tokenOf = (inv: Invitation) => /^\/invite\?token=([A-Za-z0-9_-]{43})$/.exec(inv.url)![1]!;

async function invite(body: unknown, key = alice.admin): Promise<{ invitation: Invitation; token: string }> {
  const invitation = await ok<Invitation>(await api("POST", `/organizations/${orgId}/invitations`, key, body), 201);
  return { invitation, token: tokenOf(invitation) };
}

async function members(): Promise<{ user_id: string; role: string }[]> {
  return (await ok<{ data: { user_id: string; role: string }[] }>(await api("GET", `/organizations/${orgId}/members`))).data;
}

beforeAll(async () => {
  alice = await principal();
  const name = `inv-${suffix()}`;
  orgId = (await ok<{ id: string }>(await api("POST", "/organizations", alice.admin, { name, email: `${name}@example.com` }), 201)).id;
});

describe("invitations", () => {
  it("an owner invites; the holder of the link reads it and joins once with its role (console session)", async () => {
    const before = Date.now();
    const { invitation, token } = await invite({ role: "admin" });
    expect(invitation.role).toBe("admin");
    expect(new Date(invitation.expires_at).getTime()).toBeGreaterThan(before + 6.9 * 86400_000);
    expect(new Date(invitation.expires_at).getTime()).toBeLessThan(Date.now() + 7.1 * 86400_000);

    const bob = await principal();
    const { cookie } = await signIn({ token: bob.admin });
    const offer = await ok<{ organization: { id: string; name: string }; role: string }>(await consoleApi("GET", `/invitations/${token}`, cookie));
    expect(offer).toMatchObject({ organization: { id: orgId }, role: "admin" });
    expect(offer.organization.name).toMatch(/^inv-/);

    const member = await ok<{ user_id: string; role: string; username: string }>(await consoleApi("POST", `/invitations/${token}/accept`, cookie));
    expect(member).toMatchObject({ user_id: bob.id, role: "admin", username: bob.username });
    expect(await members()).toContainEqual(expect.objectContaining({ user_id: bob.id, role: "admin" }));
    // Bob now sees the organization.
    expect((await api("GET", `/organizations/${orgId}`, bob.admin)).status).toBe(200);

    // Used: gone for everyone.
    const carol = await principal();
    await expectError(await api("GET", `/invitations/${token}`, carol.admin), 404, "not_found");
    await expectError(await api("POST", `/invitations/${token}/accept`, carol.admin), 404, "not_found");
    expect((await members()).map((m) => m.user_id)).not.toContain(carol.id);

    // As an admin of the organization, Bob may invite too (members may not).
    await invite({}, bob.admin);
  });

  it("only owners and admins invite; outsiders do not even see the organization", async () => {
    const member = await principal();
    const { token } = await invite({});
    await ok(await api("POST", `/invitations/${token}/accept`, member.admin));
    await expectError(await api("POST", `/organizations/${orgId}/invitations`, member.admin, {}), 403, "permission_denied");
    const outsider = await principal();
    await expectError(await api("POST", `/organizations/${orgId}/invitations`, outsider.admin, {}), 404, "not_found");
    // Owners cannot be invited by link; bad input names the field.
    const bad = await expectError(await api("POST", `/organizations/${orgId}/invitations`, alice.admin, { role: "owner" }), 400, "invalid_request_error");
    expect(bad.param).toBe("role");
    // A manager may invite to any organization.
    await ok(await api("POST", `/organizations/${orgId}/invitations`, env.ADMIN_TOKEN, {}), 201);
  });

  it("an invitation for an email is only for that user; members cannot join twice; unknown links are 404", async () => {
    const dave = await principal();
    const erin = await principal();
    const { token } = await invite({ email: `${dave.username.toUpperCase()}@example.com` });
    await expectError(await api("POST", `/invitations/${token}/accept`, erin.admin), 403, "permission_denied");
    await expectError(await api("POST", `/invitations/${token}/accept`, env.ADMIN_TOKEN), 403, "permission_denied");
    expect(await ok(await api("POST", `/invitations/${token}/accept`, dave.admin))).toMatchObject({ user_id: dave.id, role: "member" });

    const again = await invite({});
    await expectError(await api("POST", `/invitations/${again.token}/accept`, dave.admin), 409, "conflict");
    // The failed accept did not use the link up.
    expect(await ok(await api("POST", `/invitations/${again.token}/accept`, erin.admin))).toMatchObject({ user_id: erin.id });

    await expectError(await api("GET", `/invitations/${"x".repeat(43)}`, dave.admin), 404, "not_found");
    await expectError(await api("GET", "/invitations/short", dave.admin), 404, "not_found");
  });
});
