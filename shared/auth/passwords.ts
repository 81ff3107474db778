/**
 * Password hashing for console sign-in: PBKDF2-SHA256 from WebCrypto (the only password KDF that
 * workerd provides natively), 100,000 iterations — the most workerd accepts — with a random
 * 16-byte salt per hash. The stored string names its algorithm and cost,
 * `pbkdf2-sha256$100000$<salt b64>$<hash b64>`, so the cost can be raised later while older
 * hashes keep verifying (and `needsRehash` says when to upgrade one at the next sign-in).
 */
import { timingSafeEqualBytes } from "./tokens.ts";

export const PASSWORD_ALGORITHM = "pbkdf2-sha256";
/** workerd refuses PBKDF2 above 100,000 iterations (a DoS guard), so that is the cost we use. */
export const PASSWORD_ITERATIONS = 100_000;
export const PASSWORD_MIN_LENGTH = 12;
/** Bounds the work one request can ask for (PBKDF2 hashes the whole password each iteration's key). */
export const PASSWORD_MAX_LENGTH = 1024;
const SALT_BYTES = 16;
const HASH_BITS = 256;

const encoder = new TextEncoder();

function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> | null {
  try {
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}

async function derive(password: string, salt: Uint8Array<ArrayBuffer>, iterations: number): Promise<Uint8Array> {
  const material = await crypto.subtle.importKey("raw", encoder.encode(password.normalize("NFC")), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, material, HASH_BITS);
  return new Uint8Array(bits);
}

/** A fresh salted hash of `password`, in the self-describing stored form. */
export async function hashPassword(password: string, iterations = PASSWORD_ITERATIONS): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const hash = await derive(password, salt, iterations);
  return `${PASSWORD_ALGORITHM}$${iterations}$${toBase64(salt)}$${toBase64(hash)}`;
}

export interface PasswordCheck {
  ok: boolean;
  /** The stored hash uses a lower cost than today's: store a new one after a successful sign-in. */
  needsRehash: boolean;
}

/**
 * Checks `password` against a stored hash, comparing in constant time. A stored string that is
 * malformed or names an unknown algorithm never matches.
 */
export async function verifyPassword(password: string, stored: string): Promise<PasswordCheck> {
  const [algorithm, iterationsText, saltText, hashText] = stored.split("$");
  const iterations = Number(iterationsText);
  const salt = fromBase64(saltText ?? "");
  const expected = fromBase64(hashText ?? "");
  if (algorithm !== PASSWORD_ALGORITHM || !Number.isInteger(iterations) || iterations < 1 || iterations > PASSWORD_ITERATIONS || !salt || !expected) {
    return { ok: false, needsRehash: false };
  }
  const actual = await derive(password, salt, iterations);
  const ok = timingSafeEqualBytes(actual, expected);
  return { ok, needsRehash: ok && iterations < PASSWORD_ITERATIONS };
}

/**
 * Spends the time a real verification spends, for sign-ins naming an unknown email or a user
 * without a password, so response times do not tell which emails have accounts.
 */
export async function burnPasswordCheck(password: string): Promise<void> {
  await derive(password, new Uint8Array(SALT_BYTES), PASSWORD_ITERATIONS);
}
