/**
 * Console sign-in with a token, the session cookie on the admin API (with its CSRF proof), sign-out,
 * and the ADMIN_TOKEN acting as the built-in system user.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { useTestPool } from "../test-pool.ts";
import { api, ok, principal, suffix } from "./admin-helpers.ts";
import { authCall, consoleApi, ORIGIN, sessionCookieOf, signIn, SYSTEM_USER_ID } from "./auth-helpers.ts";
import { expectError } from "./helpers.ts";

describe("GET /admin/auth/config", () => {
  it("is public and says which sign-in methods are on", async () => {
    const res = await authCall("GET", "/config");
    expect(await ok(res)).toEqual({ password: true, access: { enabled: false, team_domain: null } });
  });
});

describe("sign-in with a token", () => {
  it("the ADMIN_TOKEN signs in as the built-in system user, a platform manager", async () => {
    const before = Date.now();
    const { cookie, session } = await signIn({ token: env.ADMIN_TOKEN });
    expect(session.via).toBe("admin_token");
    expect(session.user).toMatchObject({ id: SYSTEM_USER_ID, username: "admin-token", roles: ["platform_manager", "standard_user"] });
    // Default SESSION_TTL_HOURS: 12.
    expect(new Date(session.expires_at).getTime()).toBeGreaterThan(before + 11.9 * 3600_000);
    expect(new Date(session.expires_at).getTime()).toBeLessThan(Date.now() + 12.1 * 3600_000);
    expect(await ok(await authCall("GET", "/session", { cookie }))).toEqual(session);
    // A manager: the whole user list opens.
    expect((await consoleApi("GET", "/users?limit=1", cookie)).status).toBe(200);
  });

  it("a platform key signs in as its owner, with the owner's roles", async () => {
    const alice = await principal();
    const { cookie, session } = await signIn({ token: alice.admin });
    expect(session).toMatchObject({ via: "platform_key", user: { id: alice.id, roles: ["standard_user"] } });
    expect(await ok(await consoleApi("GET", "/users/current", cookie))).toMatchObject({ id: alice.id });
    await expectError(await consoleApi("GET", "/users?limit=1", cookie), 403, "permission_denied");
    // The session ends with the key.
    await ok(await api("DELETE", `/users/${alice.id}/api-keys/${(await keyIdOf(alice.id, "admin"))}`), 204);
    await expectError(await consoleApi("GET", "/users/current", cookie), 401, "invalid_api_key");
  });

  it("an inference key, an unknown token and an empty body are refused, with no cookie", async () => {
    const alice = await principal();
    const refused = await authCall("POST", "/sign-in", { body: { token: alice.inference } });
    expect(refused.headers.get("set-cookie")).toBeNull();
    expect((await expectError(refused, 403, "permission_denied")).param).toBe("token");
    const unknown = await authCall("POST", "/sign-in", { body: { token: "tg-not-a-real-key-000000000000000000000000000000" } });
    expect(unknown.headers.get("set-cookie")).toBeNull();
    expect((await expectError(unknown, 401, "invalid_credentials")).type).toBe("authentication_error");
    await expectError(await authCall("POST", "/sign-in", { body: { token: `${env.ADMIN_TOKEN}x` } }), 401, "invalid_credentials");
    await expectError(await authCall("POST", "/sign-in", { body: {} }), 400, "invalid_request_error");
    const unknownField = await expectError(await authCall("POST", "/sign-in", { body: { token: env.ADMIN_TOKEN, remember: true } }), 400, "invalid_request_error");
    expect(unknownField.param).toBe("remember");
  });

  it("a sign-in from another origin is refused", async () => {
    const res = await authCall("POST", "/sign-in", { body: { token: env.ADMIN_TOKEN }, headers: { origin: "https://evil.example" } });
    expect(res.headers.get("set-cookie")).toBeNull();
    await expectError(res, 403, "permission_denied");
    // The same origin is fine.
    const same = await authCall("POST", "/sign-in", { body: { token: env.ADMIN_TOKEN }, headers: { origin: ORIGIN } });
    expect(same.status).toBe(200);
    sessionCookieOf(same);
  });
});

async function keyIdOf(userId: string, name: string): Promise<string> {
  const keys = await ok<{ data: { id: string; name: string }[] }>(await api("GET", `/users/${userId}/api-keys`));
  return keys.data.find((k) => k.name === name)!.id;
}

describe("the session cookie on the admin API", () => {
  it("works only with the CSRF header and from the same origin", async () => {
    const { cookie } = await signIn({ token: env.ADMIN_TOKEN });
    expect(await ok(await consoleApi("GET", "/users/current", cookie))).toMatchObject({ id: SYSTEM_USER_ID });
    // No Origin header (same-origin GETs may omit it) is fine with the CSRF header.
    expect((await consoleApi("GET", "/users/current", cookie, { origin: null })).status).toBe(200);
    const noHeader = await expectError(await consoleApi("GET", "/users/current", cookie, { csrf: false }), 403, "permission_denied");
    expect(noHeader.message).toContain("X-Tollgate-Csrf");
    await expectError(await consoleApi("GET", "/users/current", cookie, { origin: "https://evil.example" }), 403, "permission_denied");
    await expectError(await consoleApi("GET", "/users/current", cookie, { origin: "null" }), 403, "permission_denied");
    // A cross-origin write changes nothing.
    const name = `csrf-${suffix()}`;
    await expectError(await consoleApi("POST", "/groups", cookie, { origin: "https://evil.example", body: { name } }), 403, "permission_denied");
    const groups = await ok<{ data: { name: string }[] }>(await api("GET", "/groups?limit=1000"));
    expect(groups.data.map((g) => g.name)).not.toContain(name);
  });

  it("a made-up cookie is 401; a bearer token needs no CSRF header and wins over a cookie", async () => {
    await expectError(await consoleApi("GET", "/users/current", "made-up"), 401, "invalid_api_key");
    await expectError(await authCall("GET", "/session", { cookie: "made-up" }), 401, "invalid_credentials");
    const alice = await principal();
    const res = await api("GET", "/users/current", alice.admin);
    expect(await ok(res)).toMatchObject({ id: alice.id });
  });
});

describe("sign-out", () => {
  it("revokes the session and clears the cookie; it needs the CSRF header", async () => {
    const { cookie } = await signIn({ token: env.ADMIN_TOKEN });
    const other = await signIn({ token: env.ADMIN_TOKEN });
    await expectError(await authCall("POST", "/sign-out", { cookie }), 403, "permission_denied");
    expect((await consoleApi("GET", "/users/current", cookie)).status).toBe(200);
    const res = await authCall("POST", "/sign-out", { cookie, headers: { "x-tollgate-csrf": "1", origin: ORIGIN } });
    expect(res.status).toBe(204);
    expect(res.headers.get("set-cookie")).toMatch(/tollgate_session=;.*Max-Age=0/i);
    await expectError(await consoleApi("GET", "/users/current", cookie), 401, "invalid_api_key");
    await expectError(await authCall("GET", "/session", { cookie }), 401, "invalid_credentials");
    // Only that session: another one of the same user still works.
    expect((await consoleApi("GET", "/users/current", other.cookie)).status).toBe(200);
  });
});

describe("the ADMIN_TOKEN acts as the built-in system user", () => {
  it("records it as created_by, bearer and session alike", async () => {
    const group = await ok<{ created_by: string }>(await api("POST", "/groups", env.ADMIN_TOKEN, { name: `sys-${suffix()}` }), 201);
    expect(group.created_by).toBe(SYSTEM_USER_ID);
    const alice = await principal();
    const key = await ok<{ created_by: string; user_id: string }>(await api("POST", `/users/${alice.id}/api-keys`, env.ADMIN_TOKEN, { name: "by-admin" }), 201);
    expect(key).toMatchObject({ created_by: SYSTEM_USER_ID, user_id: alice.id });
    const grant = await ok<{ created_by: string }>(await api("POST", "/transactions", env.ADMIN_TOKEN, { user_id: alice.id, transaction_type: "admin_grant", amount: "1.5" }), 201);
    expect(grant.created_by).toBe(SYSTEM_USER_ID);

    // Signed in with a platform key, the actor is the key's owner.
    const manager = await principal(["platform_manager"]);
    const { cookie } = await signIn({ token: manager.admin });
    const byManager = await ok<{ created_by: string }>(await consoleApi("POST", "/groups", cookie, { body: { name: `mgr-${suffix()}` } }), 201);
    expect(byManager.created_by).toBe(manager.id);
  });

  it("cannot be deleted or edited, and owns no keys (its only credential is the ADMIN_TOKEN)", async () => {
    const noKey = await expectError(await api("POST", `/users/${SYSTEM_USER_ID}/api-keys`, env.ADMIN_TOKEN, { name: "backdoor", purpose: "platform" }), 400, "invalid_request_error");
    expect(noKey.param).toBe("user_id");
    await expectError(await api("POST", "/users/current/api-keys", env.ADMIN_TOKEN, { name: "backdoor" }), 400, "invalid_request_error");
    expect((await ok<{ data: unknown[] }>(await api("GET", `/users/${SYSTEM_USER_ID}/api-keys`))).data).toEqual([]);
    await expectError(await api("DELETE", `/users/${SYSTEM_USER_ID}`), 403, "permission_denied");
    await expectError(await api("PATCH", `/users/${SYSTEM_USER_ID}`, env.ADMIN_TOKEN, { display_name: "x" }), 403, "permission_denied");
    expect(await ok(await api("GET", `/users/${SYSTEM_USER_ID}`))).toMatchObject({ id: SYSTEM_USER_ID, roles: ["platform_manager", "standard_user"] });
  });
});

describe("old sign-in rows are purged as people sign in", () => {
  const pool = useTestPool();
  const hex = () => [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, "0")).join("");

  it("sessions ended over 30 days ago and failures older than the throttle window go, a bounded batch per sign-in; recent ones stay", async () => {
    const alice = await principal();
    const insert = (ended: string, revoked: boolean, n = 1) =>
      pool.query(
        `INSERT INTO sessions (token_hash, user_id, via, created_at, expires_at, revoked_at)
         SELECT md5(random()::text) || md5(random()::text), $1, 'password', now() - interval '60 days', now() - $2::interval, CASE WHEN $3 THEN now() - $2::interval END
           FROM generate_series(1, $4)`,
        [alice.id, ended, revoked, n],
      );
    await insert("40 days", false, 150); // expired long ago: purged, 100 per sign-in
    await insert("31 days", true); // revoked long ago: purged
    await insert("2 days", false); // expired recently: kept (who signed in, how and when)
    await insert("29 days", true); // revoked within the retention: kept
    const subject = hex();
    await pool.query(`INSERT INTO sign_in_failures (subject, failed_at) VALUES ($1, now() - interval '20 minutes'), ($1, now() - interval '16 minutes'), ($1, now() - interval '1 minute')`, [subject]);
    const old = async () => (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM sessions WHERE user_id = $1 AND coalesce(revoked_at, expires_at) < now() - interval '30 days'`, [alice.id])).rows[0]!.n;
    const all = async () => (await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM sessions WHERE user_id = $1", [alice.id])).rows[0]!.n;
    expect(await old()).toBe(151);

    await signIn({ token: env.ADMIN_TOKEN });
    // One sign-in removes at most a batch (other test files' sign-ins may take more meanwhile).
    expect(await old()).toBeLessThanOrEqual(51);
    const failures = await pool.query<{ age: number }>("SELECT extract(epoch FROM now() - failed_at)::int AS age FROM sign_in_failures WHERE subject = $1", [subject]);
    expect(failures.rows.map((r) => r.age)).toEqual([expect.any(Number)]);
    expect(failures.rows[0]!.age).toBeLessThan(120);

    await signIn({ token: env.ADMIN_TOKEN });
    expect(await old()).toBe(0);
    expect(await all()).toBe(2);
  });

  it("set-password links and invitations used or expired over 30 days ago go; open and recent ones stay", async () => {
    const alice = await principal();
    const link = async (expires: string, used: string | null) =>
      (
        await pool.query<{ id: string }>(
          `INSERT INTO password_tokens (token_hash, user_id, created_by, created_at, expires_at, used_at)
           VALUES ($1, $2, $2, now() - interval '90 days', now() - $3::interval, now() - $4::interval) RETURNING id`,
          [hex(), alice.id, expires, used],
        )
      ).rows[0]!.id;
    const invitation = async (expires: string, accepted: string | null) =>
      (
        await pool.query<{ id: string }>(
          `INSERT INTO organization_invitations (token_hash, organization_id, role, created_by, created_at, expires_at, accepted_at, accepted_by)
           VALUES ($1, $2, 'member', $2, now() - interval '90 days', now() - $3::interval, now() - $4::interval, CASE WHEN $4::interval IS NULL THEN NULL ELSE $2::uuid END) RETURNING id`,
          [hex(), alice.id, expires, accepted],
        )
      ).rows[0]!.id;
    const gone = [await link("40 days", null), await link("-1 day", "31 days"), await invitation("35 days", null), await invitation("1 day", "40 days")];
    const kept = [await link("-1 day", null), await link("-1 day", "2 days"), await link("10 days", null), await invitation("-7 days", null), await invitation("20 days", "25 days")];
    await signIn({ token: env.ADMIN_TOKEN });
    const left = async (ids: string[]) =>
      (
        await pool.query<{ id: string }>(
          "SELECT id FROM password_tokens WHERE id = ANY($1::uuid[]) UNION ALL SELECT id FROM organization_invitations WHERE id = ANY($1::uuid[])",
          [ids],
        )
      ).rows.map((r) => r.id);
    expect(await left(gone)).toEqual([]);
    expect((await left(kept)).sort()).toEqual([...kept].sort());
  });
});
