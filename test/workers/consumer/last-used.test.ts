/**
 * `api_keys.last_used_at`: the consumer stamps a key's latest request, at most once a minute per
 * key, and the admin API lists it.
 */
import { describe, expect, it } from "vitest";
import { markKeysUsed } from "../../../workers/consumer/src/key-last-used.ts";
import { createKey, createUser } from "../../support/db-fixtures.ts";
import { sampleMessage } from "../../support/samples.ts";
import { useTestPool } from "../test-pool.ts";
import { batchOf, deliver } from "./helpers.ts";

const pool = useTestPool();


async function lastUsed(keyId: string): Promise<string | null> {
  const { rows } = await pool.query<{ at: Date | null }>("SELECT last_used_at AS at FROM api_keys WHERE id = $1", [keyId]);
  return rows[0]?.at ? new Date(rows[0].at).toISOString() : null;
}

const at = (base: number, seconds: number) => new Date(base + seconds * 1000).toISOString();

describe("api_keys.last_used_at", () => {
  it("is the latest request's time, rewritten at most once a minute per key", async () => {
    const user = await createUser(pool);
    const a = await createKey(pool, user);
    const b = await createKey(pool, user);
    const base = Date.now() - 3_600_000;
    expect(await lastUsed(a.id)).toBeNull();

    const first = await deliver(batchOf([sampleMessage({ api_key_id: a.id, timestamp: at(base, 0) }), sampleMessage({ api_key_id: a.id, timestamp: at(base, 5) })]));
    expect(first.ackAll).toBe(true);
    expect(await lastUsed(a.id)).toBe(at(base, 5));
    expect(await lastUsed(b.id)).toBeNull();

    // 30 s later: within the minute, not rewritten.
    await deliver(batchOf([sampleMessage({ api_key_id: a.id, timestamp: at(base, 35) }), sampleMessage({ api_key_id: b.id, timestamp: at(base, 35) })]));
    expect(await lastUsed(a.id)).toBe(at(base, 5));
    expect(await lastUsed(b.id)).toBe(at(base, 35));
    // Past the minute: rewritten.
    await deliver(batchOf([sampleMessage({ api_key_id: a.id, timestamp: at(base, 70) })]));
    expect(await lastUsed(a.id)).toBe(at(base, 70));
  });

  it("the database guard holds without the isolate's memo (another isolate stamping the same key)", async () => {
    const user = await createUser(pool);
    const k = await createKey(pool, user);
    const base = Date.now() - 3_600_000;
    const client = await pool.connect();
    try {
      expect(await markKeysUsed(client, [sampleMessage({ api_key_id: k.id, timestamp: at(base, 0) })], new Map())).toBe(1);
      expect(await markKeysUsed(client, [sampleMessage({ api_key_id: k.id, timestamp: at(base, 40) })], new Map())).toBe(0);
      // An older message (a redelivery) never moves it back.
      expect(await markKeysUsed(client, [sampleMessage({ api_key_id: k.id, timestamp: at(base, -600) })], new Map())).toBe(0);
      expect(await markKeysUsed(client, [sampleMessage({ api_key_id: k.id, timestamp: at(base, 61) })], new Map())).toBe(1);
    } finally {
      client.release();
    }
    expect(await lastUsed(k.id)).toBe(at(base, 61));
  });
});
