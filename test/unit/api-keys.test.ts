import { describe, expect, it } from "vitest";
import { constantTimeEqual, displayPrefix, generateApiKey, hashApiKey, looksLikeApiKey } from "../../shared/api-keys.ts";

describe("API keys", () => {
  it("are tg- plus 43 base64url characters (256 bits)", () => {
    const key = generateApiKey();
    expect(key).toMatch(/^tg-[A-Za-z0-9_-]{43}$/);
    expect(looksLikeApiKey(key)).toBe(true);
    // 43 base64url chars carry 258 bits, of which the 32 random bytes fill 256.
    const raw = Buffer.from(key.slice(3), "base64url");
    expect(raw.length).toBe(32);
  });

  it("never repeat", () => {
    const keys = new Set(Array.from({ length: 1000 }, generateApiKey));
    expect(keys.size).toBe(1000);
  });

  it("hash to the SHA-256 hex digest", async () => {
    // FIPS 180-2 test vector.
    expect(await hashApiKey("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const key = generateApiKey();
    expect(await hashApiKey(key)).toMatch(/^[0-9a-f]{64}$/);
    expect(await hashApiKey(key)).not.toContain(key.slice(3, 13));
  });

  it("display prefix identifies a key without revealing it", () => {
    const key = generateApiKey();
    const prefix = displayPrefix(key);
    expect(key.startsWith(prefix)).toBe(true);
    expect(prefix.length).toBeLessThanOrEqual(10);
  });

  it("rejects strings that are not keys", () => {
    for (const s of ["", "tg-", "sk-" + "a".repeat(43), "tg-" + "a".repeat(42), "tg-" + "a".repeat(43) + " "]) {
      expect(looksLikeApiKey(s)).toBe(false);
    }
  });

  it("compares secrets by value: equal only when identical, whatever the lengths", async () => {
    const token = "tg-admin-0123456789abcdef";
    expect(await constantTimeEqual(token, token)).toBe(true);
    expect(await constantTimeEqual(token, token.slice(0, -1))).toBe(false);
    expect(await constantTimeEqual(token, token + "x")).toBe(false);
    expect(await constantTimeEqual(token, token.replace("0", "1"))).toBe(false);
    expect(await constantTimeEqual("", "")).toBe(true);
  });
});
