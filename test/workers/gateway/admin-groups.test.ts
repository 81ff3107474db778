/**
 * Admin API, groups: CRUD, members and model grants (happy paths); the gateway's access gate and
 * `GET /ai/v1/models` following them within the cache TTL; validation and the built-in Everyone
 * group's protections (errors); the role matrix and BOLA (security).
 */
import { env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { createKey, createModel, createUser, EVERYONE_GROUP } from "../../support/db-fixtures.ts";
import { useTestPool } from "../test-pool.ts";
import { api, badRequest, ok, principal, suffix, TTL_MS, type Page, type Principal } from "./admin-helpers.ts";
import { expectError, mockBase, post, sleep } from "./helpers.ts";

const pool = useTestPool();
interface Group {
  id: string;
  name: string;
  description: string | null;
  builtin: boolean;
  created_by: string | null;
  created_at: string;
}
interface Member {
  id: string;
  username: string;
  email: string;
  display_name: string | null;
}
interface GroupModel {
  id: string;
  alias: string;
  model_name: string;
}

const newGroup = async (token = env.ADMIN_TOKEN, description?: string) =>
  ok<Group>(await api("POST", "/groups", token, { name: `g-${suffix()}`, ...(description === undefined ? {} : { description }) }), 201);

const chat = (alias: string, key: string) => post("/chat/completions", { model: alias, messages: [{ role: "user", content: "hi" }] }, key);

async function listedModels(key: string): Promise<string[]> {
  const res = await SELF.fetch("https://gateway.test/ai/v1/models", { headers: { authorization: `Bearer ${key}` } });
  const body = await ok<{ data: { id: string }[] }>(res);
  return body.data.map((m) => m.id);
}

describe("groups: happy paths", () => {
  it("create, read, list with skip/limit, patch, delete", async () => {
    const manager = await principal(["platform_manager"]);
    const group = await newGroup(manager.admin, "the research team");
    expect(group).toMatchObject({ description: "the research team", builtin: false, created_by: manager.id });
    expect(await ok<Group>(await api("GET", `/groups/${group.id}`))).toEqual(group);

    const second = await newGroup();
    // The ADMIN_TOKEN acts as the built-in system user.
    expect(second.created_by).toBe("00000000-0000-0000-0000-000000000000");
    const all = await ok<Page<Group>>(await api("GET", "/groups?limit=1000"));
    expect(all.data.map((g) => g.id)).toEqual(expect.arrayContaining([EVERYONE_GROUP, group.id, second.id]));
    expect(all.data.find((g) => g.id === EVERYONE_GROUP)).toMatchObject({ name: "Everyone", builtin: true });
    const one = await ok<Page<Group>>(await api("GET", "/groups?skip=1&limit=1"));
    expect(one).toMatchObject({ skip: 1, limit: 1, total_count: all.total_count });
    expect(one.data).toEqual([all.data[1]]);

    const renamed = `g-${suffix()}`;
    expect(await ok<Group>(await api("PATCH", `/groups/${group.id}`, env.ADMIN_TOKEN, { name: renamed }))).toMatchObject({ name: renamed, description: "the research team" });
    expect(await ok<Group>(await api("PATCH", `/groups/${group.id}`, env.ADMIN_TOKEN, { description: null }))).toMatchObject({ name: renamed, description: null });
    // Everyone's description may change; its name may be sent unchanged.
    expect(await ok<Group>(await api("PATCH", `/groups/${EVERYONE_GROUP}`, env.ADMIN_TOKEN, { name: "Everyone", description: "all users" }))).toMatchObject({
      name: "Everyone",
      description: "all users",
    });
    await ok(await api("PATCH", `/groups/${EVERYONE_GROUP}`, env.ADMIN_TOKEN, { description: "Every user is implicitly a member" }));

    expect((await api("DELETE", `/groups/${group.id}`)).status).toBe(204);
    await expectError(await api("GET", `/groups/${group.id}`), 404, "not_found");
    await expectError(await api("DELETE", `/groups/${group.id}`), 404, "not_found");
  });

  it("members and models: add (idempotently), list, remove", async () => {
    const group = await newGroup();
    const alice = await principal();
    const bob = await principal();
    const model = await createModel(pool, { url: mockBase(), open: false });

    const added = await ok<Member>(await api("POST", `/groups/${group.id}/users`, env.ADMIN_TOKEN, { user_id: alice.id }), 201);
    expect(added).toMatchObject({ id: alice.id, username: alice.username, email: `${alice.username}@example.com` });
    await ok(await api("POST", `/groups/${group.id}/users`, env.ADMIN_TOKEN, { user_id: alice.id }), 201);
    await ok(await api("POST", `/groups/${group.id}/users`, env.ADMIN_TOKEN, { user_id: bob.id.toUpperCase() }), 201);
    const members = await ok<Page<Member>>(await api("GET", `/groups/${group.id}/users`));
    expect(members.total_count).toBe(2);
    expect(members.data.map((m) => m.id).sort()).toEqual([alice.id, bob.id].sort());

    const granted = await ok<GroupModel>(await api("POST", `/groups/${group.id}/models`, env.ADMIN_TOKEN, { model_id: model.modelId }), 201);
    expect(granted).toMatchObject({ id: model.modelId, alias: model.alias, model_name: "mock-gpt" });
    await ok(await api("POST", `/groups/${group.id}/models`, env.ADMIN_TOKEN, { model_id: model.modelId }), 201);
    expect(await ok<Page<GroupModel>>(await api("GET", `/groups/${group.id}/models`))).toMatchObject({ total_count: 1, data: [{ id: model.modelId }] });

    expect((await api("DELETE", `/groups/${group.id}/users/${bob.id}`)).status).toBe(204);
    expect((await ok<Page<Member>>(await api("GET", `/groups/${group.id}/users`))).data.map((m) => m.id)).toEqual([alice.id]);
    expect((await api("DELETE", `/groups/${group.id}/models/${model.modelId}`)).status).toBe(204);
    expect(await ok<Page<GroupModel>>(await api("GET", `/groups/${group.id}/models`))).toMatchObject({ total_count: 0, data: [] });

    // Deleting the group takes its memberships with it.
    expect((await api("DELETE", `/groups/${group.id}`)).status).toBe(204);
    const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM user_groups WHERE group_id = $1", [group.id]);
    expect(rows[0]!.n).toBe(0);
  });

  it("Everyone: every live user is a member; granting it a model opens the model to all", async () => {
    const someone = await principal();
    const members = await ok<Page<Member>>(await api("GET", `/groups/${EVERYONE_GROUP}/users?limit=1000`));
    expect(members.data.map((m) => m.id)).toContain(someone.id);
    const model = await createModel(pool, { url: mockBase(), open: false });
    await ok(await api("POST", `/groups/${EVERYONE_GROUP}/models`, env.ADMIN_TOKEN, { model_id: model.modelId }), 201);
    expect(await ok<{ open_to_everyone: boolean }>(await api("GET", `/models/${model.modelId}`))).toMatchObject({ open_to_everyone: true });
    expect((await chat(model.alias, someone.inference)).status).toBe(200);
  });
});

describe("groups: the gateway's access follows them", () => {
  it("shared group → 200 and listed; member removed → 403 model_access_denied and unlisted within the TTL", async () => {
    const owner = await createUser(pool);
    const { key } = await createKey(pool, owner);
    const model = await createModel(pool, { url: mockBase(), open: false });
    await expectError(await chat(model.alias, key), 403, "model_access_denied");
    expect(await listedModels(key)).not.toContain(model.alias);

    const group = await newGroup();
    await ok(await api("POST", `/groups/${group.id}/models`, env.ADMIN_TOKEN, { model_id: model.modelId }), 201);
    await ok(await api("POST", `/groups/${group.id}/users`, env.ADMIN_TOKEN, { user_id: owner }), 201);
    // The refusal above was cached; it is trusted for one TTL at most.
    await sleep(TTL_MS + 50);
    const res = await chat(model.alias, key);
    expect(res.status, await res.text()).toBe(200);
    expect(await listedModels(key)).toContain(model.alias);

    expect((await api("DELETE", `/groups/${group.id}/users/${owner}`)).status).toBe(204);
    await sleep(TTL_MS + 50);
    await expectError(await chat(model.alias, key), 403, "model_access_denied");
    await expectError(await chat(model.alias, key), 403, "model_access_denied");
    expect(await listedModels(key)).not.toContain(model.alias);
  });

  it("withdrawing the model from the group, or deleting the group, closes it too", async () => {
    const owner = await createUser(pool);
    const { key } = await createKey(pool, owner);
    const model = await createModel(pool, { url: mockBase(), open: false });
    const group = await newGroup();
    await ok(await api("POST", `/groups/${group.id}/users`, env.ADMIN_TOKEN, { user_id: owner }), 201);
    await ok(await api("POST", `/groups/${group.id}/models`, env.ADMIN_TOKEN, { model_id: model.modelId }), 201);
    expect((await chat(model.alias, key)).status).toBe(200);

    expect((await api("DELETE", `/groups/${group.id}/models/${model.modelId}`)).status).toBe(204);
    await sleep(TTL_MS + 50);
    await expectError(await chat(model.alias, key), 403, "model_access_denied");
    expect(await listedModels(key)).not.toContain(model.alias);

    await ok(await api("POST", `/groups/${group.id}/models`, env.ADMIN_TOKEN, { model_id: model.modelId }), 201);
    await sleep(TTL_MS + 50);
    expect((await chat(model.alias, key)).status).toBe(200);
    expect((await api("DELETE", `/groups/${group.id}`)).status).toBe(204);
    await sleep(TTL_MS + 50);
    await expectError(await chat(model.alias, key), 403, "model_access_denied");
  });
});

describe("groups: errors", () => {
  it("bodies and queries are validated, the field named", async () => {
    const group = await newGroup();
    await badRequest(await api("POST", "/groups", env.ADMIN_TOKEN, {}), "name");
    await badRequest(await api("POST", "/groups", env.ADMIN_TOKEN, { name: "  " }), "name");
    await badRequest(await api("POST", "/groups", env.ADMIN_TOKEN, { name: "x", members: [] }), "members");
    await badRequest(await api("POST", "/groups", env.ADMIN_TOKEN, "{oops"), null);
    await badRequest(await api("PATCH", `/groups/${group.id}`, env.ADMIN_TOKEN, { description: 7 }), "description");
    await badRequest(await api("GET", "/groups?limit=0"), "limit");
    await badRequest(await api("GET", "/groups?sort=name"), "sort");
    await badRequest(await api("POST", `/groups/${group.id}/users`, env.ADMIN_TOKEN, { user_id: "bob" }), "user_id");
    await badRequest(await api("POST", `/groups/${group.id}/users`, env.ADMIN_TOKEN, {}), "user_id");
    await badRequest(await api("POST", `/groups/${group.id}/models`, env.ADMIN_TOKEN, { model_id: 12 }), "model_id");
    await badRequest(await api("GET", `/groups/${group.id}/users?skip=-1`), "skip");
  });

  it("unknown users and models are 400 naming the field; deleted ones too", async () => {
    const group = await newGroup();
    await badRequest(await api("POST", `/groups/${group.id}/users`, env.ADMIN_TOKEN, { user_id: crypto.randomUUID() }), "user_id");
    await badRequest(await api("POST", `/groups/${group.id}/models`, env.ADMIN_TOKEN, { model_id: crypto.randomUUID() }), "model_id");
    const gone = await createUser(pool);
    await pool.query("UPDATE users SET deleted_at = now() WHERE id = $1", [gone]);
    await badRequest(await api("POST", `/groups/${group.id}/users`, env.ADMIN_TOKEN, { user_id: gone }), "user_id");
    const model = await createModel(pool, { url: mockBase(), open: false });
    expect((await api("DELETE", `/models/${model.modelId}`)).status).toBe(204);
    await badRequest(await api("POST", `/groups/${group.id}/models`, env.ADMIN_TOKEN, { model_id: model.modelId }), "model_id");
    expect(await ok<Page<Member>>(await api("GET", `/groups/${group.id}/users`))).toMatchObject({ total_count: 0 });
  });

  it("Everyone cannot be renamed, deleted, joined or left", async () => {
    await badRequest(await api("PATCH", `/groups/${EVERYONE_GROUP}`, env.ADMIN_TOKEN, { name: "Nobody" }), "name");
    await badRequest(await api("DELETE", `/groups/${EVERYONE_GROUP}`), null);
    const user = await createUser(pool);
    await badRequest(await api("POST", `/groups/${EVERYONE_GROUP}/users`, env.ADMIN_TOKEN, { user_id: user }), "user_id");
    await badRequest(await api("DELETE", `/groups/${EVERYONE_GROUP}/users/${user}`), null);
    expect(await ok<Group>(await api("GET", `/groups/${EVERYONE_GROUP}`))).toMatchObject({ name: "Everyone", builtin: true });
  });

  it("a name clash is 409; unknown ids are 404", async () => {
    const group = await newGroup();
    const clash = await expectError(await api("POST", "/groups", env.ADMIN_TOKEN, { name: group.name }), 409, "conflict");
    expect(clash.param).toBe("name");
    const other = await newGroup();
    expect((await expectError(await api("PATCH", `/groups/${other.id}`, env.ADMIN_TOKEN, { name: group.name }), 409, "conflict")).param).toBe("name");
    await expectError(await api("POST", "/groups", env.ADMIN_TOKEN, { name: "Everyone" }), 409, "conflict");

    const missing = crypto.randomUUID();
    for (const [method, path, body] of [
      ["GET", `/groups/${missing}`],
      ["PATCH", `/groups/${missing}`, { description: "x" }],
      ["DELETE", `/groups/${missing}`],
      ["GET", `/groups/${missing}/users`],
      ["POST", `/groups/${missing}/users`, { user_id: missing }],
      ["GET", `/groups/${missing}/models`],
      ["DELETE", `/groups/not-a-uuid`],
      ["DELETE", `/groups/${group.id}/users/${missing}`],
      ["DELETE", `/groups/${group.id}/models/${missing}`],
      ["DELETE", `/groups/${group.id}/models/nope`],
    ] as [string, string, unknown?][]) {
      await expectError(await api(method, path, env.ADMIN_TOKEN, body), 404, "not_found");
    }
  });
});

describe("groups: security", () => {
  let alice: Principal;
  let bob: Principal;
  let viewer: Principal;
  let manager: Principal;
  let alicesGroup: Group;
  let bobsGroup: Group;
  beforeAll(async () => {
    // One after another: the embedded Postgres serves every connection in one session.
    alice = await principal();
    bob = await principal();
    viewer = await principal(["billing_manager", "request_viewer"]);
    manager = await principal(["platform_manager"]);
    alicesGroup = await newGroup();
    bobsGroup = await newGroup();
    await ok(await api("POST", `/groups/${alicesGroup.id}/users`, env.ADMIN_TOKEN, { user_id: alice.id }), 201);
    await ok(await api("POST", `/groups/${bobsGroup.id}/users`, env.ADMIN_TOKEN, { user_id: bob.id }), 201);
  });

  it("a manager's platform key does everything", async () => {
    const group = await newGroup(manager.admin);
    expect((await api("PATCH", `/groups/${group.id}`, manager.admin, { description: "m" })).status).toBe(200);
    expect((await api("POST", `/groups/${group.id}/users`, manager.admin, { user_id: alice.id })).status).toBe(201);
    expect((await api("GET", `/groups/${group.id}/users`, manager.admin)).status).toBe(200);
    expect((await api("DELETE", `/groups/${group.id}/users/${alice.id}`, manager.admin)).status).toBe(204);
    expect((await api("GET", `/groups/${bobsGroup.id}`, manager.admin)).status).toBe(200);
    expect((await api("DELETE", `/groups/${group.id}`, manager.admin)).status).toBe(204);
  });

  it("a standard user lists and reads only the groups they belong to (Everyone included)", async () => {
    const listed = await ok<Page<Group>>(await api("GET", "/groups?limit=1000", alice.admin));
    expect(listed.data.map((g) => g.id).sort()).toEqual([EVERYONE_GROUP, alicesGroup.id].sort());
    expect(listed.total_count).toBe(2);
    expect((await api("GET", `/groups/${alicesGroup.id}`, alice.admin)).status).toBe(200);
    expect((await api("GET", `/groups/${EVERYONE_GROUP}`, alice.admin)).status).toBe(200);
    // Other roles are not managers: the viewer belongs to Everyone only.
    expect((await ok<Page<Group>>(await api("GET", "/groups", viewer.admin))).data.map((g) => g.id)).toEqual([EVERYONE_GROUP]);
  });

  it("non-managers change nothing: 403 on every change and roster", async () => {
    for (const who of [alice, viewer]) {
      const mine = who === alice ? alicesGroup.id : EVERYONE_GROUP;
      await expectError(await api("POST", "/groups", who.admin, { name: `g-${suffix()}` }), 403, "permission_denied");
      await expectError(await api("PATCH", `/groups/${mine}`, who.admin, { description: "mine now" }), 403, "permission_denied");
      await expectError(await api("DELETE", `/groups/${mine}`, who.admin), 403, "permission_denied");
      await expectError(await api("GET", `/groups/${mine}/users`, who.admin), 403, "permission_denied");
      await expectError(await api("POST", `/groups/${mine}/users`, who.admin, { user_id: who.id }), 403, "permission_denied");
      await expectError(await api("DELETE", `/groups/${mine}/users/${who.id}`, who.admin), 403, "permission_denied");
      await expectError(await api("GET", `/groups/${mine}/models`, who.admin), 403, "permission_denied");
      await expectError(await api("POST", `/groups/${mine}/models`, who.admin, { model_id: crypto.randomUUID() }), 403, "permission_denied");
      await expectError(await api("DELETE", `/groups/${mine}/models/${crypto.randomUUID()}`, who.admin), 403, "permission_denied");
    }
    // Inference keys do not open the admin API at all.
    await expectError(await api("GET", "/groups", alice.inference), 403, "permission_denied");
    // Nothing changed.
    expect((await ok<Page<Member>>(await api("GET", `/groups/${alicesGroup.id}/users`))).data.map((m) => m.id)).toEqual([alice.id]);
  });

  it("BOLA: a group the user is not in answers 404, exactly like a missing one", async () => {
    const missing = crypto.randomUUID();
    const foreign = await expectError(await api("GET", `/groups/${bobsGroup.id}`, alice.admin), 404, "not_found");
    const absent = await expectError(await api("GET", `/groups/${missing}`, alice.admin), 404, "not_found");
    expect(foreign.message.replace(bobsGroup.id, missing)).toBe(absent.message);
  });
});
