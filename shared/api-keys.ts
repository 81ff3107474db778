/**
 * API keys: `tg-` followed by 43 base64url characters (256 bits from the platform CSPRNG). Only the
 * SHA-256 (hex) and a short display prefix are ever stored.
 */
import { toHex } from "./hex.ts";

export const KEY_PREFIX = "tg-";
const DISPLAY_PREFIX_LENGTH = 10;
const KEY_PATTERN = /^tg-[A-Za-z0-9_-]{43}$/;

export const API_KEY_PURPOSES = ["platform", "realtime", "batch", "playground"] as const;
export type ApiKeyPurpose = (typeof API_KEY_PURPOSES)[number];

function base64url(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function generateApiKey(): string {
  return KEY_PREFIX + base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** True when the string has the shape of a Tollgate key (no lookup). */
export function looksLikeApiKey(value: string): boolean {
  return KEY_PATTERN.test(value);
}

const encoder = new TextEncoder();

export async function hashApiKey(key: string): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", encoder.encode(key)));
}

/** What lists show instead of the secret, e.g. `tg-AbC1dEf…`. */
export function displayPrefix(key: string): string {
  return key.slice(0, DISPLAY_PREFIX_LENGTH);
}

/**
 * Equal-time comparison for secrets (the admin token): both sides are hashed first, so neither
 * length nor content leaks through timing; the digests are then compared without early exit.
 */
export async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const [ha, hb] = await Promise.all([crypto.subtle.digest("SHA-256", encoder.encode(a)), crypto.subtle.digest("SHA-256", encoder.encode(b))]);
  const x = new Uint8Array(ha);
  const y = new Uint8Array(hb);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}
