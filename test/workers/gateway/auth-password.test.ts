/**
 * Email + password sign-in: a manager's one-time set-password link, signing in with it, wrong
 * passwords, changing a password, and the sessions each of these (and deleting the user) ends.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, ok, principal, type Principal } from "./admin-helpers.ts";
import { authCall, consoleApi, ORIGIN, sessionCookieOf, signIn, SYSTEM_USER_ID, type SessionBody } from "./auth-helpers.ts";
import { expectError } from "./helpers.ts";

const CSRF = { "x-tollgate-csrf": "1", origin: ORIGIN };

async function passwordLink(userId: string, token = env.ADMIN_TOKEN): Promise<{ token: string; expires_at: string }> {
  const link = await ok<{ url: string; expires_at: string }>(await api("POST", `/users/${userId}/password-link`, token), 201);
  const match = /^\/set-password\?token=([A-Za-z0-9_-]{43})$/.exec(link.url);
  expect(match, link.url).not.toBeNull();
  return { token: match![1]!, expires_at: link.expires_at };
}

async function setPassword(token: string, password: string): Promise<{ cookie: string; session: SessionBody }> {
  const res = await authCall("POST", "/password", { body: { token, password } });
  const text = await res.clone().text();
  expect(res.status, text).toBe(200);
  return { cookie: sessionCookieOf(res), session: JSON.parse(text) as SessionBody };
}

const email = (p: Principal) => `${p.username}@example.com`;

describe("set-password links", () => {
  it("are one-time, for 24 hours, issued by managers only, and sign the user in", async () => {
    const alice = await principal();
    const before = Date.now();
    const link = await passwordLink(alice.id);
    expect(new Date(link.expires_at).getTime()).toBeGreaterThan(before + 23.9 * 3600_000);
    expect(new Date(link.expires_at).getTime()).toBeLessThan(Date.now() + 24.1 * 3600_000);

    const { cookie, session } = await setPassword(link.token, "correct horse battery");
    expect(session).toMatchObject({ via: "password", user: { id: alice.id, email: email(alice) } });
    expect(await ok(await consoleApi("GET", "/users/current", cookie))).toMatchObject({ id: alice.id });

    // Reuse is refused and changes nothing.
    const reuse = await expectError(await authCall("POST", "/password", { body: { token: link.token, password: "someone else's pick" } }), 401, "invalid_credentials");
    expect(reuse.param).toBe("token");
    await expectError(await authCall("POST", "/sign-in", { body: { email: email(alice), password: "someone else's pick" } }), 401, "invalid_credentials");
    expect((await signIn({ email: email(alice), password: "correct horse battery" })).session.user.id).toBe(alice.id);

    // Only managers hand out links; not for the system user, not for organizations.
    const bob = await principal();
    await expectError(await api("POST", `/users/${alice.id}/password-link`, bob.admin), 403, "permission_denied");
    await expectError(await api("POST", `/users/${SYSTEM_USER_ID}/password-link`), 403, "permission_denied");
    const org = await ok<{ id: string }>(await api("POST", "/organizations", env.ADMIN_TOKEN, { name: `org-${alice.username}`, email: `org-${alice.username}@example.com`, owner_id: alice.id }), 201);
    await expectError(await api("POST", `/users/${org.id}/password-link`), 400, "invalid_request_error");
    await expectError(await api("POST", `/users/${crypto.randomUUID()}/password-link`), 404, "not_found");
  });

  it("a new link replaces an unused earlier one; passwords under 12 characters are a 400 naming `password`", async () => {
    const alice = await principal();
    const first = await passwordLink(alice.id);
    const second = await passwordLink(alice.id);
    const short = await expectError(await authCall("POST", "/password", { body: { token: second.token, password: "short" } }), 400, "invalid_request_error");
    expect(short.param).toBe("password");
    await expectError(await authCall("POST", "/password", { body: { token: first.token, password: "long enough password" } }), 401, "invalid_credentials");
    await setPassword(second.token, "long enough password");
    await expectError(await authCall("POST", "/password", { body: { token: "x".repeat(43), password: "long enough password" } }), 401, "invalid_credentials");
  });

  it("setting a password through a link ends the user's other sessions", async () => {
    const alice = await principal();
    const byKey = await signIn({ token: alice.admin });
    await setPassword((await passwordLink(alice.id)).token, "first password here");
    await expectError(await consoleApi("GET", "/users/current", byKey.cookie), 401, "invalid_api_key");
  });
});

describe("email + password sign-in", () => {
  it("accepts the right password (email in any case) and refuses wrong ones with one message", async () => {
    const alice = await principal();
    await setPassword((await passwordLink(alice.id)).token, "alice's long password");
    const started = Date.now();
    const { cookie, session } = await signIn({ email: email(alice).toUpperCase(), password: "alice's long password" });
    console.log(`password sign-in (PBKDF2-SHA256, 100,000 iterations) took ${Date.now() - started} ms end to end`);
    expect(session).toMatchObject({ via: "password", user: { id: alice.id } });
    expect((await consoleApi("GET", "/users/current", cookie)).status).toBe(200);

    const wrong = await authCall("POST", "/sign-in", { body: { email: email(alice), password: "alice's long passworD" } });
    expect(wrong.headers.get("set-cookie")).toBeNull();
    const a = await expectError(wrong, 401, "invalid_credentials");
    expect(a.type).toBe("authentication_error");
    // An unknown email and a user without a password get the very same answer.
    const b = await expectError(await authCall("POST", "/sign-in", { body: { email: "nobody@example.com", password: "alice's long password" } }), 401, "invalid_credentials");
    const bob = await principal();
    const c = await expectError(await authCall("POST", "/sign-in", { body: { email: email(bob), password: "alice's long password" } }), 401, "invalid_credentials");
    expect(new Set([a.message, b.message, c.message]).size).toBe(1);
    await expectError(await authCall("POST", "/sign-in", { body: { email: email(alice) } }), 400, "invalid_request_error");
  });

  it("throttles guessing: after 10 failures in 15 minutes an email gets 429 (even with the right password); others are unaffected", async () => {
    const alice = await principal();
    const bob = await principal();
    await setPassword((await passwordLink(alice.id)).token, "alice's real password");
    await setPassword((await passwordLink(bob.id)).token, "bob's real password");
    // A success clears earlier failures.
    await expectError(await authCall("POST", "/sign-in", { body: { email: email(alice), password: "guess" } }), 401, "invalid_credentials");
    await signIn({ email: email(alice), password: "alice's real password" });
    for (let i = 0; i < 10; i++) {
      await expectError(await authCall("POST", "/sign-in", { body: { email: i % 2 ? email(alice) : email(alice).toUpperCase(), password: `guess ${i}` } }), 401, "invalid_credentials");
    }
    const limited = await authCall("POST", "/sign-in", { body: { email: email(alice), password: "alice's real password" } });
    expect(limited.headers.get("set-cookie")).toBeNull();
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(800);
    expect(retryAfter).toBeLessThanOrEqual(900);
    await expectError(limited, 429, "rate_limit_exceeded");
    await signIn({ email: email(bob), password: "bob's real password" });
    // Other ways in still work for Alice.
    await signIn({ token: alice.admin });
    // Unknown emails are throttled the same way (no hint which exist).
    for (let i = 0; i < 10; i++) await authCall("POST", "/sign-in", { body: { email: `nobody-${alice.username}@example.com`, password: "x" } });
    await expectError(await authCall("POST", "/sign-in", { body: { email: `nobody-${alice.username}@example.com`, password: "x" } }), 429, "rate_limit_exceeded");
  });

  it("changing the password (signed in, with the current one) ends the other sessions only", async () => {
    const alice = await principal();
    await setPassword((await passwordLink(alice.id)).token, "the old password");
    const here = await signIn({ email: email(alice), password: "the old password" });
    const elsewhere = await signIn({ email: email(alice), password: "the old password" });

    // The CSRF proof is needed, and the current password.
    await expectError(await authCall("POST", "/password", { cookie: here.cookie, body: { current_password: "the old password", password: "the new password" } }), 403, "permission_denied");
    const bad = await expectError(await authCall("POST", "/password", { cookie: here.cookie, headers: CSRF, body: { current_password: "not the old one", password: "the new password" } }), 401, "invalid_credentials");
    expect(bad.param).toBe("current_password");
    expect((await consoleApi("GET", "/users/current", elsewhere.cookie)).status).toBe(200);

    const changed = await authCall("POST", "/password", { cookie: here.cookie, headers: CSRF, body: { current_password: "the old password", password: "the new password" } });
    expect(await ok(changed)).toMatchObject({ via: "password", user: { id: alice.id } });
    expect((await consoleApi("GET", "/users/current", here.cookie)).status).toBe(200);
    await expectError(await consoleApi("GET", "/users/current", elsewhere.cookie), 401, "invalid_api_key");
    await expectError(await authCall("POST", "/sign-in", { body: { email: email(alice), password: "the old password" } }), 401, "invalid_credentials");
    await signIn({ email: email(alice), password: "the new password" });
  });

  it("deleting the user ends their sessions and their password sign-in", async () => {
    const alice = await principal();
    await setPassword((await passwordLink(alice.id)).token, "soon to be gone");
    const { cookie } = await signIn({ email: email(alice), password: "soon to be gone" });
    await ok(await api("DELETE", `/users/${alice.id}`), 204);
    await expectError(await consoleApi("GET", "/users/current", cookie), 401, "invalid_api_key");
    await expectError(await authCall("GET", "/session", { cookie }), 401, "invalid_credentials");
    await expectError(await authCall("POST", "/sign-in", { body: { email: email(alice), password: "soon to be gone" } }), 401, "invalid_credentials");
  });
});
