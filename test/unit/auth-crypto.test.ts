/**
 * The console's sign-in crypto, in Node's WebCrypto (the same API workerd implements): PBKDF2
 * password hashes and Cloudflare Access JWT verification.
 */
import { describe, expect, it } from "vitest";
import { importJwks, verifyAccessJwt, type VerifyOptions } from "../../shared/auth/access-jwt.ts";
import { hashPassword, PASSWORD_ITERATIONS, verifyPassword } from "../../shared/auth/passwords.ts";
import { base64url, base64urlDecode, newSecretToken } from "../../shared/auth/tokens.ts";

describe("passwords", () => {
  it("hash with PBKDF2-SHA256 at 100,000 iterations and a fresh salt, stored with their parameters", async () => {
    const started = performance.now();
    const stored = await hashPassword("correct horse battery staple");
    const ms = performance.now() - started;
    console.log(`PBKDF2-SHA256 x ${PASSWORD_ITERATIONS} in Node: ${ms.toFixed(1)} ms`);
    expect(stored).toMatch(/^pbkdf2-sha256\$100000\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
    expect(stored).not.toContain("correct horse");
    const again = await hashPassword("correct horse battery staple");
    expect(again).not.toBe(stored);
    expect(await verifyPassword("correct horse battery staple", stored)).toEqual({ ok: true, needsRehash: false });
    expect(await verifyPassword("correct horse battery stapl", stored)).toEqual({ ok: false, needsRehash: false });
    expect(await verifyPassword("Correct horse battery staple", stored)).toEqual({ ok: false, needsRehash: false });
  });

  it("verify older, cheaper hashes and ask for a rehash; malformed or unknown ones never match", async () => {
    const cheap = await hashPassword("pw", 1000);
    expect(cheap.startsWith("pbkdf2-sha256$1000$")).toBe(true);
    expect(await verifyPassword("pw", cheap)).toEqual({ ok: true, needsRehash: true });
    for (const bad of ["", "pw", "argon2id$1$aa$bb", "pbkdf2-sha256$0$AAAA$AAAA", "pbkdf2-sha256$100001$AAAA$AAAA", "pbkdf2-sha256$1000$!!$AAAA", cheap.replace("$1000$", "$999$")]) {
      expect((await verifyPassword("pw", bad)).ok, bad).toBe(false);
    }
  });

  it("normalizes Unicode so the same password typed differently still matches", async () => {
    const stored = await hashPassword("caf\u00e9 au lait!!");
    expect((await verifyPassword("cafe\u0301 au lait!!", stored)).ok).toBe(true);
  });
});

describe("secret tokens", () => {
  it("are 256-bit base64url and round-trip", () => {
    const token = newSecretToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(base64urlDecode(token)?.length).toBe(32);
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(base64urlDecode(base64url(bytes))).toEqual(bytes);
    expect(base64urlDecode("a+b")).toBeNull();
  });
});

const RSA = { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" };
const enc = (v: unknown) => base64url(new TextEncoder().encode(JSON.stringify(v)));

describe("Access JWT verification", async () => {
  const pair = (await crypto.subtle.generateKey(RSA, true, ["sign", "verify"])) as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
  const keys = await importJwks({ keys: [{ kid: "k1", kty: "RSA", n: jwk.n, e: jwk.e }, { kty: "oct", k: "c2VjcmV0" }, "junk"] });
  const NOW = 1_800_000_000;
  const options: VerifyOptions = { issuer: "https://team.cloudflareaccess.com", audience: "aud-1", key: async (kid) => keys.get(kid) ?? null, now: NOW };

  async function jwt(claims: Record<string, unknown>, header: Record<string, unknown> = { alg: "RS256", kid: "k1" }): Promise<string> {
    const signed = `${enc(header)}.${enc({ iss: "https://team.cloudflareaccess.com", aud: ["aud-1"], exp: NOW + 60, nbf: NOW - 1, email: "a@example.com", ...claims })}`;
    const sig = new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", pair.privateKey, new TextEncoder().encode(signed)));
    return `${signed}.${base64url(sig)}`;
  }

  it("imports only the RSA keys of a key set", () => {
    expect([...keys.keys()]).toEqual(["k1"]);
  });

  it("accepts a valid token, aud as a string or a list, within the clock leeway", async () => {
    expect(await verifyAccessJwt(await jwt({}), options)).toMatchObject({ ok: true, claims: { email: "a@example.com" } });
    expect((await verifyAccessJwt(await jwt({ aud: "aud-1" }), options)).ok).toBe(true);
    expect((await verifyAccessJwt(await jwt({ exp: NOW - 30 }), options)).ok).toBe(true);
    expect((await verifyAccessJwt(await jwt({ nbf: NOW + 30 }), options)).ok).toBe(true);
  });

  it("names why a token is refused", async () => {
    const reason = async (token: string) => {
      const r = await verifyAccessJwt(token, options);
      return r.ok ? "ok" : r.reason;
    };
    expect(await reason(await jwt({ aud: ["other"] }))).toBe("wrong_audience");
    expect(await reason(await jwt({ iss: "https://evil.cloudflareaccess.com" }))).toBe("wrong_issuer");
    expect(await reason(await jwt({ exp: NOW - 61 }))).toBe("expired");
    expect(await reason(await jwt({ nbf: NOW + 61 }))).toBe("not_yet_valid");
    expect(await reason(await jwt({}, { alg: "RS256", kid: "k2" }))).toBe("unknown_key");
    expect(await reason(await jwt({}, { alg: "HS256", kid: "k1" }))).toBe("unsupported_algorithm");
    expect(await reason(await jwt({}, { alg: "none", kid: "k1" }))).toBe("unsupported_algorithm");
    expect(await reason(await jwt({}, { alg: "RS256" }))).toBe("malformed");
    expect(await reason(await jwt({ exp: "soon" }))).toBe("malformed");
    const [h, , s] = (await jwt({})).split(".");
    expect(await reason(`${h}.${enc({ iss: options.issuer, aud: "aud-1", exp: NOW + 60, email: "boss@example.com" })}.${s}`)).toBe("bad_signature");
    expect(await reason("a.b")).toBe("malformed");
    expect(await reason("a.b.c")).toBe("malformed");
  });
});
