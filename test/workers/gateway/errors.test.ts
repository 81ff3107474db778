/**
 * Every gate and failure answers in the OpenAI envelope with the right status — and is metered.
 */
import { env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { createKey, createModel, createUser, type ModelFixture } from "../../support/db-fixtures.ts";
import { useTestPool } from "../test-pool.ts";
import { expectError, mockBase, post, sleep, usageMessageFor } from "./helpers.ts";

const pool = useTestPool();
let key: string;
let model: ModelFixture;
const TTL = Number(env.ACCESS_CACHE_TTL_MS);

async function priceModel(modelId: string) {
  await pool.query(
    `INSERT INTO model_tariffs (deployed_model_id, api_key_purpose, input_price_per_token, output_price_per_token, valid_from)
     VALUES ($1, 'realtime', 0.001, 0.002, now() - interval '1 minute')`,
    [modelId],
  );
}

async function grant(userId: string, amount: string, sourceId = crypto.randomUUID()) {
  await pool.query("INSERT INTO credits_transactions (user_id, transaction_type, amount, source_id) VALUES ($1, 'admin_grant', $2, $3)", [userId, amount, sourceId]);
}

/** How many queries are waiting for a lock on api_keys (the slow-database tests hold one). */
async function apiKeysLockWaiters(): Promise<number> {
  return Number((await pool.query("SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND relation = 'api_keys'::regclass")).rows[0].n);
}

/** Retries `fn` until it gives `status` or the deadline passes; returns the time it took. */
async function untilStatus(status: number, fn: () => Promise<Response>, withinMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const res = await fn();
    await res.body?.cancel();
    if (res.status === status) return Date.now() - started;
    if (Date.now() - started > withinMs) throw new Error(`still ${res.status} after ${withinMs} ms`);
    await sleep(50);
  }
}

beforeAll(async () => {
  key = (await createKey(pool, await createUser(pool))).key;
  model = await createModel(pool, { url: mockBase() });
});

describe("400 / 413: the request itself", () => {
  it("malformed JSON, a non-object body, or a missing model", async () => {
    await expectError(await post("/chat/completions", "{not json", key), 400, "invalid_request_error");
    await expectError(await post("/chat/completions", "[1,2]", key), 400, "invalid_request_error");
    const err = await expectError(await post("/chat/completions", { messages: [] }, key), 400, "invalid_request_error");
    expect(err.param).toBe("model");
  });

  it("a body over the limit", async () => {
    const big = JSON.stringify({ model: model.alias, messages: [{ role: "user", content: "x".repeat(Number(env.MAX_BODY_BYTES)) }] });
    await expectError(await post("/chat/completions", big, key), 413, "request_too_large");
  });
});

describe("401 / 403 / 404: who and what", () => {
  it("no key, an unknown key, and a key deleted (locked out within the cache TTL)", async () => {
    const noKey = await post("/chat/completions", { model: model.alias }, null);
    await expectError(noKey.clone(), 401, "invalid_api_key");
    expect((await usageMessageFor(noKey)).access).toBe("unauthenticated");
    const unknown = await post("/chat/completions", { model: model.alias }, "tg-" + "x".repeat(43));
    await expectError(unknown.clone(), 401, "invalid_api_key");
    expect(await usageMessageFor(unknown)).toMatchObject({ access: "unknown_api_key", api_key_id: null });

    const doomed = await createKey(pool, await createUser(pool));
    expect((await post("/chat/completions", { model: model.alias, messages: [] }, doomed.key)).status).toBe(200);
    await pool.query("UPDATE api_keys SET is_deleted = true, deleted_at = now() WHERE id = $1", [doomed.id]);
    const took = await untilStatus(401, () => post("/chat/completions", { model: model.alias, messages: [] }, doomed.key), TTL + 1000);
    expect(took).toBeLessThanOrEqual(TTL + 1000);
  });

  it("the key of a deleted user is locked out within the cache TTL, even if the key row itself was left", async () => {
    const ownerId = await createUser(pool);
    const orphan = await createKey(pool, ownerId);
    expect((await post("/chat/completions", { model: model.alias, messages: [] }, orphan.key)).status).toBe(200);
    // By hand, not through the admin API (which deletes the user's keys in the same transaction).
    await pool.query("UPDATE users SET deleted_at = now() WHERE id = $1", [ownerId]);
    const took = await untilStatus(401, () => post("/chat/completions", { model: model.alias, messages: [] }, orphan.key), TTL + 1000);
    expect(took).toBeLessThanOrEqual(TTL + 1000);
  });

  it("a new key works on its very first request", async () => {
    const fresh = await createKey(pool, await createUser(pool));
    expect((await post("/chat/completions", { model: model.alias, messages: [] }, fresh.key)).status).toBe(200);
  });

  it("a platform key cannot call inference", async () => {
    const platform = await createKey(pool, await createUser(pool), "platform");
    await expectError(await post("/chat/completions", { model: model.alias }, platform.key), 403, "permission_denied");
  });

  it("an oversized alias or User-Agent is recorded clipped, and never costs a neighbour its usage record", async () => {
    // Sent together, so both usage messages share one queue batch: a message over the Queues
    // limits (128 KB each, 256 KB a batch) would have the whole batch refused.
    const alias = "m".repeat(300_000);
    const [huge, normal] = await Promise.all([
      post("/chat/completions", { model: alias }, key, { "user-agent": "u".repeat(50_000) }),
      post("/chat/completions", { model: "no-such-model" }, key),
    ]);
    await expectError(huge, 404, "model_not_found");
    await expectError(normal, 404, "model_not_found");
    const recorded = await usageMessageFor(huge);
    expect(recorded.model).toBe(alias.slice(0, 256));
    expect(recorded.user_agent).toBe("u".repeat(512));
    expect((await usageMessageFor(normal)).model).toBe("no-such-model");
  });

  it("an unknown model is 404; a model outside the owner's groups is 403", async () => {
    const err = await expectError(await post("/chat/completions", { model: "no-such-model" }, key), 404, "model_not_found");
    expect(err.param).toBe("model");
    const closed = await createModel(pool, { url: mockBase(), open: false });
    await expectError(await post("/chat/completions", { model: closed.alias }, key), 403, "model_access_denied");

    // Sharing a group opens it.
    const userId = await createUser(pool);
    const member = await createKey(pool, userId);
    const { rows } = await pool.query<{ id: string }>("INSERT INTO groups (name) VALUES ($1) RETURNING id", [`g-${crypto.randomUUID()}`]);
    await pool.query("INSERT INTO user_groups (user_id, group_id) VALUES ($1, $2)", [userId, rows[0]!.id]);
    await pool.query("INSERT INTO deployment_groups (deployment_id, group_id) VALUES ($1, $2)", [closed.modelId, rows[0]!.id]);
    expect((await post("/chat/completions", { model: closed.alias, messages: [] }, member.key)).status).toBe(200);
  });
});

describe("a slow database", () => {
  // The embedded Postgres serves every connection in one session, so a lock one connection holds
  // would block the test's own queries too: this needs a real server.
  it.skipIf(env.TEST_DATABASE_EMBEDDED === "true")("while one request waits on Postgres, others for the same key and model are answered from the just-expired entries", async () => {
    const slowKey = (await createKey(pool, await createUser(pool))).key;
    const body = { model: model.alias, messages: [{ role: "user", content: "hi" }] };
    // Postgres becomes slow for real: every read of api_keys waits behind this lock (the
    // connection is opened first, so taking the lock is one quick statement).
    const locker = await pool.connect();
    let first: Promise<Response> | undefined;
    let firstDone = false;
    try {
      const warm = await post("/chat/completions", body, slowKey);
      expect(warm.status).toBe(200);
      await warm.body?.cancel();
      await locker.query("BEGIN");
      await sleep(TTL + 10); // the entries have expired; while a read runs they may be served for one more TTL
      await locker.query("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE");
      first = post("/chat/completions", body, slowKey);
      void first.then(() => (firstDone = true));
      // Until the first request's read is queued behind the lock.
      while ((await apiKeysLockWaiters()) === 0) await sleep(5);
      const second = await post("/chat/completions", body, slowKey);
      // Served without waiting for Postgres: the first request is still blocked behind the lock.
      expect(second.status).toBe(200);
      await second.body?.cancel();
      expect(firstDone).toBe(false);
    } finally {
      await locker.query("ROLLBACK").catch(() => undefined);
      locker.release();
    }
    const res = await first!;
    expect(res.status).toBe(200);
    await res.body?.cancel();
  });
});

describe("a cold isolate", () => {
  // Needs a real server, like the slow-database test above.
  it.skipIf(env.TEST_DATABASE_EMBEDDED === "true")("a burst for a key and model with nothing cached opens one Postgres read, and every request is answered from it", async () => {
    // A key never presented before: nothing about it is cached, so no request can be served stale.
    const coldKey = (await createKey(pool, await createUser(pool))).key;
    const body = { model: model.alias, messages: [{ role: "user", content: "hi" }] };
    const locker = await pool.connect();
    let burst: Promise<Response>[] = [];
    try {
      await locker.query("BEGIN");
      await locker.query("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE");
      burst = Array.from({ length: 5 }, () => post("/chat/completions", body, coldKey));
      while ((await apiKeysLockWaiters()) === 0) await sleep(5);
      // Time for the rest of the burst to reach Postgres, if it were going to (they arrive within
      // milliseconds); less than a TTL, after which a read still under way counts as lost and the
      // waiting requests read for themselves.
      await sleep(TTL / 2);
      expect(await apiKeysLockWaiters()).toBe(1);
    } finally {
      await locker.query("ROLLBACK").catch(() => undefined);
      locker.release();
    }
    for (const res of await Promise.all(burst)) {
      expect(res.status).toBe(200);
      await res.body?.cancel();
    }
  });
});

describe("402: credit", () => {
  it("a priced model needs a positive balance; free models stay usable; a top-up restores access", async () => {
    const userId = await createUser(pool);
    const k = (await createKey(pool, userId)).key;
    const priced = await createModel(pool, { url: mockBase() });
    await priceModel(priced.modelId);

    const refused = await post("/chat/completions", { model: priced.alias, messages: [] }, k);
    const err = await expectError(refused.clone(), 402, "insufficient_credits");
    expect(err.message).toMatch(/top up/i);
    expect((await usageMessageFor(refused)).status_code).toBe(402);
    expect((await post("/chat/completions", { model: model.alias, messages: [] }, k)).status).toBe(200); // free model

    await grant(userId, "5");
    await untilStatus(200, () => post("/chat/completions", { model: priced.alias, messages: [] }, k), TTL + 1000);

    // Spending it all (a usage row) locks the priced model again within the TTL.
    await pool.query("INSERT INTO credits_transactions (user_id, transaction_type, amount, source_id) VALUES ($1, 'usage', 5, $2)", [userId, crypto.randomUUID()]);
    await untilStatus(402, () => post("/chat/completions", { model: priced.alias, messages: [] }, k), TTL + 1000);
  });
});

describe("402: the credit gate prices as the consumer does", () => {
  it("the key's purpose picks the tariff: free for realtime but priced for batch refuses only the batch key", async () => {
    const userId = await createUser(pool);
    const realtime = (await createKey(pool, userId)).key;
    const batch = (await createKey(pool, userId, "batch")).key;
    const mixed = await createModel(pool, { url: mockBase() });
    await pool.query(
      `INSERT INTO model_tariffs (deployed_model_id, api_key_purpose, input_price_per_token, output_price_per_token, valid_from)
       VALUES ($1, 'realtime', 0, 0, now() - interval '1 minute'), ($1, 'batch', 0.001, 0.002, now() - interval '1 minute')`,
      [mixed.modelId],
    );
    // The realtime key at zero balance is priced at the (free) realtime tariff: served.
    expect((await post("/chat/completions", { model: mixed.alias, messages: [] }, realtime)).status).toBe(200);
    await expectError(await post("/chat/completions", { model: mixed.alias, messages: [] }, batch), 402, "insufficient_credits");
  });

  it("a tariff only for a batch completion window still gates batch keys; an expired or future price does not gate", async () => {
    const userId = await createUser(pool);
    const realtime = (await createKey(pool, userId)).key;
    const batch = (await createKey(pool, userId, "batch")).key;
    const windowed = await createModel(pool, { url: mockBase() });
    await pool.query(
      `INSERT INTO model_tariffs (deployed_model_id, api_key_purpose, completion_window, input_price_per_token, output_price_per_token, valid_from, valid_until)
       VALUES ($1, 'batch', '24h', 0.001, 0, now() - interval '1 minute', NULL),
              ($1, 'realtime', NULL, 0.001, 0.002, now() - interval '2 days', now() - interval '1 day'),
              ($1, 'realtime', NULL, 0.001, 0.002, now() + interval '1 day', NULL)`,
      [windowed.modelId],
    );
    await expectError(await post("/chat/completions", { model: windowed.alias, messages: [] }, batch), 402, "insufficient_credits");
    expect((await post("/chat/completions", { model: windowed.alias, messages: [] }, realtime)).status).toBe(200);
  });
});

describe("429: rate limits", () => {
  it("a key's requests_per_second and burst_size hold, with Retry-After", async () => {
    const userId = await createUser(pool);
    const limited = await createKey(pool, userId);
    await pool.query("UPDATE api_keys SET requests_per_second = 0.5, burst_size = 2 WHERE id = $1", [limited.id]);
    const statuses: number[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < 3; i++) {
      const res = await post("/chat/completions", { model: model.alias, messages: [] }, limited.key);
      statuses.push(res.status);
      if (res.status === 429) refused = res;
      else await res.body?.cancel();
    }
    expect(statuses).toEqual([200, 200, 429]);
    expect(Number(refused!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const err = await expectError(refused!, 429, "rate_limit_exceeded");
    expect(err.message).toMatch(/API key/);
  });

  it("a limited key's answers carry x-ratelimit-{limit,remaining,reset}-requests as OpenAI sends them, its 429 too", async () => {
    const limited = await createKey(pool, await createUser(pool));
    await pool.query("UPDATE api_keys SET requests_per_second = 1, burst_size = 3 WHERE id = $1", [limited.id]);
    const seen: (string | null)[][] = [];
    for (let i = 0; i < 4; i++) {
      const res = await post("/chat/completions", { model: model.alias, messages: [] }, limited.key);
      seen.push([String(res.status), ...["limit", "remaining", "reset"].map((h) => res.headers.get(`x-ratelimit-${h}-requests`))]);
      await res.body?.cancel();
    }
    expect(seen).toEqual([
      ["200", "3", "2", "1s"],
      ["200", "3", "1", "2s"],
      ["200", "3", "0", "3s"],
      ["429", "3", "0", "3s"],
    ]);
  });

  it("a limited key's x-ratelimit-*-requests are on an answer that failed after the limits passed (502), and on CORS answers", async () => {
    const limited = await createKey(pool, await createUser(pool));
    await pool.query("UPDATE api_keys SET requests_per_second = 1, burst_size = 3 WHERE id = $1", [limited.id]);
    const unreachable = await createModel(pool, { url: "http://127.0.0.1:9/v1" });
    const res = await post("/chat/completions", { model: unreachable.alias, messages: [] }, limited.key);
    expect(res.headers.get("x-ratelimit-limit-requests")).toBe("3");
    expect(res.headers.get("x-ratelimit-remaining-requests")).toBe("2");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("x-tollgate-event-id")).toMatch(/^[0-9a-f-]{36}$/);
    await expectError(res, 502, "upstream_error");
  });

  it("a model's limit applies across keys", async () => {
    const m = await createModel(pool, { url: mockBase() });
    await pool.query("UPDATE deployed_models SET requests_per_second = 0.2, burst_size = 1 WHERE id = $1", [m.modelId]);
    const a = (await createKey(pool, await createUser(pool))).key;
    const b = (await createKey(pool, await createUser(pool))).key;
    expect((await post("/chat/completions", { model: m.alias, messages: [] }, a)).status).toBe(200);
    const res = await post("/chat/completions", { model: m.alias, messages: [] }, b);
    const err = await expectError(res, 429, "rate_limit_exceeded");
    expect(err.message).toContain(m.alias);
  });
});

describe("502 / 504 / upstream errors", () => {
  it("502 when the upstream cannot be reached or drops the connection; no address leaks", async () => {
    const unreachable = await createModel(pool, { url: "http://127.0.0.1:9/v1" });
    const err = await expectError(await post("/chat/completions", { model: unreachable.alias, messages: [] }, key), 502, "upstream_error");
    expect(err.message).not.toContain("127.0.0.1");
    const dropping = await createModel(pool, { url: mockBase(), modelName: "mock+disconnect" });
    await expectError(await post("/chat/completions", { model: dropping.alias, messages: [] }, key), 502, "upstream_error");
  });

  it("504 when the upstream does not answer in time", async () => {
    const hanging = await createModel(pool, { url: mockBase(), modelName: "mock+hang" });
    const res = await post("/chat/completions", { model: hanging.alias, messages: [] }, key);
    await expectError(res.clone(), 504, "upstream_timeout");
    expect((await usageMessageFor(res)).status_code).toBe(504);
  });

  it("an upstream error response passes through with its status and is recorded", async () => {
    const failing = await createModel(pool, { url: mockBase(), modelName: "mock+http_500" });
    const res = await post("/chat/completions", { model: failing.alias, messages: [] }, key);
    expect(res.status).toBe(500);
    expect(((await res.clone().json()) as { error: { code: string } }).error.code).toBe("mock_error");
    expect(await usageMessageFor(res)).toMatchObject({ status_code: 500, response_type: "error" });
  });

  it("unknown routes are 404 in the envelope", async () => {
    await expectError(await SELF.fetch("https://gateway.test/ai/v1/nope", { method: "POST" }), 404, "not_found");
  });
});
