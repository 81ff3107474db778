/**
 * Single sign-on with Cloudflare Access, against a locally issued key set served from loopback
 * (ACCESS_CERTS_URL): a valid assertion signs in and creates the user on first sight with
 * ACCESS_DEFAULT_ROLE; a wrong audience or issuer, an expired or not-yet-valid token, an unknown
 * kid, a forged signature or another algorithm are refused; the team's keys are fetched once.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { newApp } from "../../../workers/gateway/src/app.ts";
import { api, ok, suffix } from "./admin-helpers.ts";
import { consoleApi, ORIGIN, sessionCookieOf, type SessionBody } from "./auth-helpers.ts";
import { expectError } from "./helpers.ts";

declare module "vitest" {
  // Provided by test/support/workers-global-setup.ts (which this project's tsconfig does not see).
  export interface ProvidedContext {
    jwksUrl: string;
  }
}

const TEAM = "tollgate-test.cloudflareaccess.com";
const AUD = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";
const jwksUrl = inject("jwksUrl");

// The gateway as deployed behind Access: the test project's env plus the Access settings.
const accessEnv = {
  ...env,
  ACCESS_TEAM_DOMAIN: TEAM,
  ACCESS_AUD: AUD,
  ACCESS_DEFAULT_ROLE: "request_viewer",
  ACCESS_CERTS_URL: `${jwksUrl}/cdn-cgi/access/certs`,
};
const app = newApp();

async function gateway(path: string, headers: Record<string, string> = {}, environment: object = accessEnv): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`${ORIGIN}${path}`, { headers }), environment as typeof env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

const RSA = { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" };
let teamKey: CryptoKeyPair;
let strangerKey: CryptoKeyPair;

const b64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const b64json = (value: unknown) => b64url(new TextEncoder().encode(JSON.stringify(value)));

interface Forge {
  kid?: string;
  alg?: string;
  key?: CryptoKey;
  claims?: Record<string, unknown>;
}

/** An Access assertion as Access issues it, with any part overridden. */
async function assertion(email: string, forge: Forge = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const header = b64json({ alg: forge.alg ?? "RS256", kid: forge.kid ?? "team-key-1", typ: "JWT" });
  const payload = b64json({ aud: [AUD], email, exp: now + 600, iat: now, nbf: now, iss: `https://${TEAM}`, type: "app", identity_nonce: "n", sub: crypto.randomUUID(), country: "NL", ...forge.claims });
  const signature = new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", forge.key ?? teamKey.privateKey, new TextEncoder().encode(`${header}.${payload}`)));
  return `${header}.${payload}.${b64url(signature)}`;
}

const signInWith = (jwt: string) => gateway("/admin/auth/session", { "cf-access-jwt-assertion": jwt });

async function certsFetches(): Promise<number> {
  return (await (await fetch(`${jwksUrl}/__count`)).json<{ fetches: number }>()).fetches;
}

async function userByEmail(email: string): Promise<{ id: string; roles: string[] } | undefined> {
  const users = await ok<{ data: { id: string; email: string; roles: string[] }[] }>(await api("GET", "/users?limit=1000"));
  return users.data.find((u) => u.email === email);
}

beforeAll(async () => {
  teamKey = (await crypto.subtle.generateKey(RSA, true, ["sign", "verify"])) as CryptoKeyPair;
  strangerKey = (await crypto.subtle.generateKey(RSA, true, ["sign", "verify"])) as CryptoKeyPair;
  const jwk = (await crypto.subtle.exportKey("jwk", teamKey.publicKey)) as JsonWebKey;
  // As Access publishes them: an RSA key with its kid, beside a key type we do not use.
  const keys = { keys: [{ kid: "team-key-1", kty: "RSA", alg: "RS256", use: "sig", n: jwk.n, e: jwk.e }, { kid: "ec", kty: "EC", crv: "P-256", x: "AA", y: "AA" }] };
  await fetch(`${jwksUrl}/keys`, { method: "PUT", body: JSON.stringify(keys) });
});

describe("Cloudflare Access sign-in", () => {
  it("is announced by /admin/auth/config", async () => {
    expect(await ok(await gateway("/admin/auth/config"))).toEqual({ password: true, access: { enabled: true, team_domain: TEAM } });
  });

  it("a valid assertion creates the user on first sight with the default role, then signs the same user in", async () => {
    const email = `sso-${suffix()}@example.com`;
    expect(await userByEmail(email)).toBeUndefined();
    const res = await signInWith(await assertion(email));
    const first = await ok<SessionBody>(res);
    const cookie = sessionCookieOf(res);
    expect(first).toMatchObject({ via: "access", user: { email, roles: ["request_viewer", "standard_user"] } });
    expect(await userByEmail(email)).toMatchObject({ id: first.user.id, roles: ["request_viewer", "standard_user"] });
    // The cookie opens the admin API as that user (any gateway isolate: the session is in Postgres).
    expect(await ok(await consoleApi("GET", "/users/current", cookie))).toMatchObject({ id: first.user.id, email });
    // Next time (another assertion, the email in another case) it is the same user.
    const again = await ok<SessionBody>(await signInWith(await assertion(email.toUpperCase())));
    expect(again.user.id).toBe(first.user.id);
  });

  it("an existing user signs in as themselves with their roles", async () => {
    const username = `known-${suffix()}`;
    const known = await ok<{ id: string }>(await api("POST", "/users", env.ADMIN_TOKEN, { username, email: `${username}@example.com`, roles: ["billing_manager"] }), 201);
    const session = await ok<SessionBody>(await signInWith(await assertion(`${username}@example.com`)));
    expect(session.user).toMatchObject({ id: known.id, roles: ["billing_manager", "standard_user"] });
  });

  it("refuses a wrong audience or issuer, expired or early tokens, unknown keys, forgeries and other algorithms", async () => {
    const email = `refused-${suffix()}@example.com`;
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Promise<string>][] = [
      ["another application", assertion(email, { claims: { aud: ["someone-elses-aud"] } })],
      ["another team", assertion(email, { claims: { iss: "https://other-team.cloudflareaccess.com" } })],
      ["expired", assertion(email, { claims: { exp: now - 120, iat: now - 720, nbf: now - 720 } })],
      ["not yet valid", assertion(email, { claims: { nbf: now + 600, exp: now + 1200 } })],
      ["unknown kid", assertion(email, { kid: "rotated-away", key: strangerKey.privateKey })],
      ["forged with the team's kid", assertion(email, { key: strangerKey.privateKey })],
      ["alg none", assertion(email, { alg: "none" })],
      ["alg HS256", assertion(email, { alg: "HS256" })],
    ];
    for (const [what, jwt] of cases) {
      const res = await signInWith(await jwt);
      expect(res.headers.get("set-cookie"), what).toBeNull();
      const error = await expectError(res, 401, "invalid_credentials");
      expect(error.message, what).toMatch(/Cloudflare Access assertion was refused/);
    }
    const tampered = (await assertion(email)).split(".");
    tampered[1] = b64json({ aud: [AUD], email: "ceo@example.com", exp: now + 600, iss: `https://${TEAM}` });
    await expectError(await signInWith(tampered.join(".")), 401, "invalid_credentials");
    await expectError(await signInWith("not-a-jwt"), 401, "invalid_credentials");
    // A service token (no email) signs nobody in.
    await expectError(await signInWith(await assertion("", { claims: { email: undefined, common_name: "svc" } })), 401, "invalid_credentials");
    expect(await userByEmail(email)).toBeUndefined();
  });

  it("a deleted user stays deleted", async () => {
    const username = `gone-${suffix()}`;
    const gone = await ok<{ id: string }>(await api("POST", "/users", env.ADMIN_TOKEN, { username, email: `${username}@example.com` }), 201);
    const res = await signInWith(await assertion(`${username}@example.com`));
    const cookie = sessionCookieOf(res);
    await ok(await api("DELETE", `/users/${gone.id}`), 204);
    await expectError(await consoleApi("GET", "/users/current", cookie), 401, "invalid_api_key");
    await expectError(await signInWith(await assertion(`${username}@example.com`)), 403, "permission_denied");
  });

  it("fetched the team's keys once for all of the above (cached per isolate)", async () => {
    expect(await certsFetches()).toBe(1);
  });

  it("without ACCESS_TEAM_DOMAIN / ACCESS_AUD the header is ignored", async () => {
    const res = await gateway("/admin/auth/session", { "cf-access-jwt-assertion": await assertion(`off-${suffix()}@example.com`) }, env);
    await expectError(res, 401, "invalid_credentials");
    expect(await ok(await gateway("/admin/auth/config", {}, env))).toEqual({ password: true, access: { enabled: false, team_domain: null } });
  });
});
