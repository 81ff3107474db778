/**
 * Admin API, editing and deleting users: `PATCH /users/{id}` (anyone their own display name and
 * email, only managers roles or other users) and `DELETE /users/{id}` (managers; soft, and the
 * user's keys stop working at the gateway within the cache TTL). Happy paths, errors, security.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createModel } from "../../support/db-fixtures.ts";
import { useTestPool } from "../test-pool.ts";
import { api, badRequest, ok, principal, TTL_MS, type Page } from "./admin-helpers.ts";
import { expectError, mockBase, post, sleep } from "./helpers.ts";

const pool = useTestPool();
interface User {
  id: string;
  username: string;
  email: string;
  display_name: string | null;
  roles: string[];
  updated_at: string;
}

describe("PATCH /users/{id}", () => {
  it("a manager edits display name, email and roles (replacing them; standard_user always stays)", async () => {
    const target = await principal(["billing_manager"]);
    const email = `new-${target.username}@example.com`;
    const before = await ok<User>(await api("GET", `/users/${target.id}`));
    const patched = await ok<User>(await api("PATCH", `/users/${target.id}`, env.ADMIN_TOKEN, { display_name: "Ada", email, roles: ["request_viewer"] }));
    expect(patched).toMatchObject({ id: target.id, username: target.username, display_name: "Ada", email, roles: ["request_viewer", "standard_user"] });
    expect(Date.parse(patched.updated_at)).toBeGreaterThanOrEqual(Date.parse(before.updated_at));
    // Absent fields are left alone; null clears the display name.
    expect(await ok<User>(await api("PATCH", `/users/${target.id}`, env.ADMIN_TOKEN, {}))).toMatchObject({ display_name: "Ada", email });
    expect(await ok<User>(await api("PATCH", `/users/${target.id}`, env.ADMIN_TOKEN, { display_name: null, roles: [] }))).toMatchObject({ display_name: null, roles: ["standard_user"] });

    // A role granted by PATCH takes effect on the user's platform key.
    await expectError(await api("GET", "/users", target.admin), 403, "permission_denied");
    await ok(await api("PATCH", `/users/${target.id}`, env.ADMIN_TOKEN, { roles: ["platform_manager"] }));
    expect((await api("GET", "/users", target.admin)).status).toBe(200);
  });

  it("a user edits their own display name and email, by id or as `current`", async () => {
    const me = await principal();
    expect(await ok<User>(await api("PATCH", `/users/${me.id}`, me.admin, { display_name: "Me" }))).toMatchObject({ id: me.id, display_name: "Me" });
    const email = `mine-${me.username}@example.com`;
    expect(await ok<User>(await api("PATCH", "/users/current", me.admin, { email }))).toMatchObject({ id: me.id, email, roles: ["standard_user"] });
  });

  it("errors: each bad field named; an email in use is 409; unknown ids 404", async () => {
    const a = await principal();
    const b = await principal();
    await badRequest(await api("PATCH", `/users/${a.id}`, env.ADMIN_TOKEN, { email: "nope" }), "email");
    await badRequest(await api("PATCH", `/users/${a.id}`, env.ADMIN_TOKEN, { display_name: 5 }), "display_name");
    await badRequest(await api("PATCH", `/users/${a.id}`, env.ADMIN_TOKEN, { roles: ["god"] }), "roles[0]");
    await badRequest(await api("PATCH", `/users/${a.id}`, env.ADMIN_TOKEN, { username: "renamed" }), "username");
    await badRequest(await api("PATCH", `/users/${a.id}`, env.ADMIN_TOKEN, "[1"), null);
    const clash = await expectError(await api("PATCH", `/users/${a.id}`, env.ADMIN_TOKEN, { email: `${b.username}@example.com` }), 409, "conflict");
    expect(clash.param).toBe("email");
    await expectError(await api("PATCH", `/users/${crypto.randomUUID()}`, env.ADMIN_TOKEN, { display_name: "x" }), 404, "not_found");
    // The ADMIN_TOKEN's built-in system user is fixed.
    await expectError(await api("PATCH", "/users/current", env.ADMIN_TOKEN, { display_name: "x" }), 403, "permission_denied");
    // Nothing was half-written by the failed requests.
    expect(await ok<User>(await api("GET", `/users/${a.id}`))).toMatchObject({ email: `${a.username}@example.com`, display_name: null });
  });

  it("security: no self-service roles; another user's id is 404 like a missing one", async () => {
    const alice = await principal(["request_viewer"]);
    const bob = await principal();
    const escalate = await expectError(await api("PATCH", `/users/${alice.id}`, alice.admin, { roles: ["platform_manager"] }), 403, "permission_denied");
    expect(escalate.param).toBe("roles");
    expect((await ok<User>(await api("GET", "/users/current", alice.admin))).roles).toEqual(["request_viewer", "standard_user"]);

    const missing = crypto.randomUUID();
    const foreign = await expectError(await api("PATCH", `/users/${bob.id}`, alice.admin, { display_name: "pwned" }), 404, "not_found");
    const absent = await expectError(await api("PATCH", `/users/${missing}`, alice.admin, { display_name: "pwned" }), 404, "not_found");
    expect(foreign.message.replace(bob.id, missing)).toBe(absent.message);
    expect((await ok<User>(await api("GET", `/users/${bob.id}`))).display_name).toBeNull();
    await expectError(await api("PATCH", `/users/${alice.id}`, alice.inference, { display_name: "x" }), 403, "permission_denied");
  });
});

describe("DELETE /users/{id}", () => {
  it("soft-deletes the user; their keys stop working at the gateway within the TTL", async () => {
    const doomed = await principal();
    const model = await createModel(pool, { url: mockBase() });
    const chat = () => post("/chat/completions", { model: model.alias, messages: [{ role: "user", content: "hi" }] }, doomed.inference);
    // Warm the isolate's key cache, so the deletion has to outlive a cached "valid".
    expect((await chat()).status).toBe(200);
    expect((await api("GET", "/users/current", doomed.admin)).status).toBe(200);

    expect((await api("DELETE", `/users/${doomed.id}`)).status).toBe(204);
    await sleep(TTL_MS + 50);
    await expectError(await chat(), 401, "invalid_api_key");
    await expectError(await chat(), 401, "invalid_api_key");
    await expectError(await api("GET", "/users/current", doomed.admin), 401, "invalid_api_key");

    await expectError(await api("GET", `/users/${doomed.id}`), 404, "not_found");
    await expectError(await api("PATCH", `/users/${doomed.id}`, env.ADMIN_TOKEN, { display_name: "back" }), 404, "not_found");
    await expectError(await api("GET", `/users/${doomed.id}/api-keys`), 404, "not_found");
    expect((await ok<Page<{ id: string }>>(await api("GET", "/users?limit=1000"))).data.map((u) => u.id)).not.toContain(doomed.id);
    await expectError(await api("DELETE", `/users/${doomed.id}`), 404, "not_found");

    // Soft: the rows stay for analytics and the ledger.
    const { rows } = await pool.query<{ deleted: boolean; live_keys: number }>(
      "SELECT deleted_at IS NOT NULL AS deleted, (SELECT count(*)::int FROM api_keys WHERE user_id = u.id AND NOT is_deleted) AS live_keys FROM users u WHERE id = $1",
      [doomed.id],
    );
    expect(rows[0]).toEqual({ deleted: true, live_keys: 0 });
  });

  it("managers only; unknown and malformed ids are 404", async () => {
    const manager = await principal(["platform_manager"]);
    const alice = await principal(["billing_manager", "request_viewer"]);
    const bob = await principal();
    await expectError(await api("DELETE", `/users/${bob.id}`, alice.admin), 403, "permission_denied");
    await expectError(await api("DELETE", `/users/${alice.id}`, alice.admin), 403, "permission_denied");
    expect((await api("GET", `/users/${bob.id}`)).status).toBe(200);
    expect((await api("DELETE", `/users/${bob.id}`, manager.admin)).status).toBe(204);
    await expectError(await api("DELETE", `/users/${crypto.randomUUID()}`), 404, "not_found");
    await expectError(await api("DELETE", "/users/current"), 404, "not_found");
  });
});
