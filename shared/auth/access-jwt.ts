/**
 * Verifies a Cloudflare Access application token (`Cf-Access-Jwt-Assertion`): an RS256 JWT signed
 * by one of the team's keys (published at `https://<team>/cdn-cgi/access/certs`). Checks, in the
 * order that costs least first: shape, `alg` (RS256 only: never `none`, never HMAC with a public
 * key as secret), the key by `kid`, the signature, then `iss`, `aud`, `exp` and `nbf` with a small
 * clock leeway. The caller supplies the key lookup (and so the caching and fetching policy).
 *
 *   const result = await verifyAccessJwt(assertion, { issuer: "https://team.cloudflareaccess.com", audience: aud, key });
 *   if (result.ok) signIn(result.claims.email);
 */
import * as z from "zod";
import { base64urlDecode } from "./tokens.ts";

export const ACCESS_JWT_ALGORITHM = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

const Header = z.object({ alg: z.string(), kid: z.string().min(1).max(200) });
const Claims = z.object({
  iss: z.string(),
  aud: z.union([z.string(), z.array(z.string())]),
  exp: z.number(),
  nbf: z.number().optional(),
  iat: z.number().optional(),
  sub: z.string().optional(),
  email: z.string().optional(),
});
export type AccessClaims = z.output<typeof Claims>;

export type AccessJwtFailure =
  | "malformed"
  | "unsupported_algorithm"
  | "unknown_key"
  | "bad_signature"
  | "wrong_issuer"
  | "wrong_audience"
  | "expired"
  | "not_yet_valid";

export type AccessJwtResult = { ok: true; claims: AccessClaims } | { ok: false; reason: AccessJwtFailure };

export interface VerifyOptions {
  /** `https://<team domain>`, exactly as Access writes `iss`. */
  issuer: string;
  /** The application's AUD tag. */
  audience: string;
  /** The team's public key with this `kid`, or null when there is none. */
  key: (kid: string) => Promise<CryptoKey | null>;
  /** Seconds since the epoch (tests pass their own clock). */
  now?: number;
  leewaySeconds?: number;
}

const decoder = new TextDecoder();

function json(part: string): unknown {
  const bytes = base64urlDecode(part);
  if (!bytes) return undefined;
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch {
    return undefined;
  }
}

export async function verifyAccessJwt(token: string, options: VerifyOptions): Promise<AccessJwtResult> {
  const parts = token.split(".");
  if (parts.length !== 3 || token.length > 16_384) return { ok: false, reason: "malformed" };
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = Header.safeParse(json(headerPart));
  if (!header.success) return { ok: false, reason: "malformed" };
  if (header.data.alg !== "RS256") return { ok: false, reason: "unsupported_algorithm" };
  const claims = Claims.safeParse(json(payloadPart));
  const signature = base64urlDecode(signaturePart);
  if (!claims.success || !signature) return { ok: false, reason: "malformed" };

  const key = await options.key(header.data.kid);
  if (!key) return { ok: false, reason: "unknown_key" };
  const signed = new TextEncoder().encode(`${headerPart}.${payloadPart}`);
  if (!(await crypto.subtle.verify(ACCESS_JWT_ALGORITHM, key, signature, signed))) return { ok: false, reason: "bad_signature" };

  const c = claims.data;
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const leeway = options.leewaySeconds ?? 60;
  if (c.iss.replace(/\/+$/, "") !== options.issuer) return { ok: false, reason: "wrong_issuer" };
  const audiences = typeof c.aud === "string" ? [c.aud] : c.aud;
  if (!audiences.includes(options.audience)) return { ok: false, reason: "wrong_audience" };
  if (c.exp + leeway <= now) return { ok: false, reason: "expired" };
  if (c.nbf !== undefined && c.nbf - leeway > now) return { ok: false, reason: "not_yet_valid" };
  return { ok: true, claims: c };
}

const Jwk = z.object({ kid: z.string().min(1), kty: z.literal("RSA"), n: z.string().min(1), e: z.string().min(1) });
/** The JWKS document (`{"keys": [...]}`); keys that are not RSA are skipped, not fatal. */
export const JwksSchema = z.object({ keys: z.array(z.unknown()).max(100) });

/** The RSA verification keys of a JWKS document, by `kid`. */
export async function importJwks(document: unknown): Promise<Map<string, CryptoKey>> {
  const keys = new Map<string, CryptoKey>();
  const parsed = JwksSchema.parse(document);
  for (const raw of parsed.keys) {
    const jwk = Jwk.safeParse(raw);
    if (!jwk.success) continue;
    const { kid, n, e } = jwk.data;
    keys.set(kid, await crypto.subtle.importKey("jwk", { kty: "RSA", n, e, alg: "RS256", ext: true }, ACCESS_JWT_ALGORITHM, false, ["verify"]));
  }
  return keys;
}
