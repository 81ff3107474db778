/**
 * Single sign-on with Cloudflare Access. When the gateway sits behind an Access application
 * (`ACCESS_TEAM_DOMAIN` + `ACCESS_AUD`), Access sends each request with a signed assertion in
 * `Cf-Access-Jwt-Assertion`. A valid one signs its email in; a user seen for the first time is
 * created with `ACCESS_DEFAULT_ROLE`. A deleted user stays deleted: Access does not bring them back.
 *
 * The team's public keys are fetched once per isolate and kept for an hour; a `kid` not among
 * them (Access rotates keys) triggers one early refetch, at most every 30 seconds, so a flood of
 * forged tokens cannot turn into a flood of fetches.
 */
import { importJwks, verifyAccessJwt, type AccessJwtFailure } from "../../../../shared/auth/access-jwt.ts";
import { ApiError, errorMessage } from "../../../../shared/errors.ts";
import type { Role } from "../../../../shared/roles.ts";
import { inTransaction, type SqlClient } from "../../../../shared/sql/client.ts";
import type { GatewayConfig } from "../config.ts";

export const ACCESS_ASSERTION_HEADER = "cf-access-jwt-assertion";
export type AccessSettings = NonNullable<GatewayConfig["access"]>;

const KEYS_TTL_MS = 60 * 60 * 1000;
const UNKNOWN_KID_REFETCH_MS = 30 * 1000;
const FETCH_TIMEOUT_MS = 5_000;

interface KeySet {
  keys: Map<string, CryptoKey>;
  fetchedAt: number;
}

// Module scope: a pure cache of public keys per certs URL (nothing request-bound).
const keySets = new Map<string, KeySet>();
const inFlight = new Map<string, Promise<KeySet>>();

async function fetchKeySet(url: string): Promise<KeySet> {
  let pending = inFlight.get(url);
  if (!pending) {
    pending = (async () => {
      const res = await fetch(url, { headers: { accept: "application/json" }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      if (!res.ok) throw new Error(`Access certs ${url} answered ${res.status}`);
      const set = { keys: await importJwks(await res.json()), fetchedAt: Date.now() };
      keySets.set(url, set);
      return set;
    })().finally(() => inFlight.delete(url));
    inFlight.set(url, pending);
  }
  return pending;
}

/** The team key with this `kid`, from the isolate's cache or a (re)fetch. */
export async function accessKey(url: string, kid: string): Promise<CryptoKey | null> {
  const cached = keySets.get(url);
  const now = Date.now();
  const stale = !cached || now - cached.fetchedAt > KEYS_TTL_MS;
  const unknownKid = cached !== undefined && !cached.keys.has(kid) && now - cached.fetchedAt > UNKNOWN_KID_REFETCH_MS;
  if (!stale && !unknownKid) return cached.keys.get(kid) ?? null;
  try {
    return (await fetchKeySet(url)).keys.get(kid) ?? null;
  } catch (err) {
    // Keys we already hold still verify while the certs endpoint is unreachable.
    if (cached) return cached.keys.get(kid) ?? null;
    console.error(`Cloudflare Access: cannot fetch the team's keys: ${errorMessage(err)}`);
    throw new ApiError("service_unavailable", "Cannot verify the Cloudflare Access sign-in right now (the team's keys are unreachable). Retry shortly.");
  }
}

const REASONS: Record<AccessJwtFailure, string> = {
  malformed: "it is not a well-formed JWT",
  unsupported_algorithm: "it is not signed with RS256",
  unknown_key: "it is signed with a key the Access team does not publish",
  bad_signature: "its signature does not verify",
  wrong_issuer: "it was issued by another Access team",
  wrong_audience: "it is for another Access application (aud)",
  expired: "it has expired",
  not_yet_valid: "it is not valid yet (nbf)",
};

/** The email an Access assertion vouches for; 401 naming the reason otherwise. */
export async function verifyAccessAssertion(assertion: string, access: AccessSettings): Promise<string> {
  const result = await verifyAccessJwt(assertion, { issuer: access.issuer, audience: access.audience, key: (kid) => accessKey(access.certsUrl, kid) });
  if (!result.ok) throw new ApiError("invalid_credentials", `The Cloudflare Access assertion was refused: ${REASONS[result.reason]}.`);
  const email = result.claims.email?.trim().toLowerCase();
  // Service tokens carry no email: they are for machines, which use API keys here.
  if (!email || !email.includes("@")) throw new ApiError("invalid_credentials", "The Cloudflare Access assertion names no user email (a service token?); sign in with a token instead.");
  return email;
}

/** `jane+ops@example.com` → `jane-ops@example.com`: usernames allow letters, digits and . _ @ - only. */
function usernameFor(email: string): string {
  return email.replace(/[^A-Za-z0-9._@-]/g, "-").slice(0, 90);
}

/**
 * The id of the live individual user with this email, creating them (with `standard_user` and
 * the default role) on first sight.
 */
export async function accessUser(db: SqlClient, email: string, defaultRole: Role): Promise<string> {
  return inTransaction(db, async () => {
    // Serializes first sign-ins of one email across requests (the unique email constraint is case-sensitive).
    await db.query("SELECT pg_advisory_xact_lock(hashtext('tollgate-access-user:' || $1))", [email]);
    const { rows } = await db.query<{ id: string; deleted: boolean; user_type: string }>(
      `SELECT id, deleted_at IS NOT NULL AS deleted, user_type FROM users WHERE lower(email) = $1
        ORDER BY deleted_at IS NOT NULL, user_type <> 'individual', created_at LIMIT 1`,
      [email],
    );
    const found = rows[0];
    if (found) {
      if (found.deleted) throw new ApiError("permission_denied", "This account has been deleted. Ask a platform manager to restore access.");
      if (found.user_type !== "individual") throw new ApiError("permission_denied", "This email belongs to an organization, which cannot sign in.");
      return found.id;
    }
    const base = usernameFor(email);
    const taken = await db.query("SELECT 1 FROM users WHERE username = $1", [base]);
    const username = taken.rows.length === 0 ? base : `${base.slice(0, 80)}-${crypto.randomUUID().slice(0, 8)}`;
    const created = await db.query<{ id: string }>("INSERT INTO users (username, email) VALUES ($1, $2) RETURNING id", [username, email]);
    const id = created.rows[0]!.id;
    await db.query("INSERT INTO user_roles (user_id, role) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING", [id, [...new Set(["standard_user", defaultRole])]]);
    return id;
  });
}
