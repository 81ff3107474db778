/**
 * Encryption at rest for upstream API keys: AES-256-GCM under the ENCRYPTION_KEY Worker secret
 * (base64 of 32 bytes). The stored form is base64(iv[12] || ciphertext+tag).
 */
const IV_BYTES = 12;

function fromBase64(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

export async function importSecretKey(base64Key: string): Promise<CryptoKey> {
  const raw = fromBase64(base64Key);
  if (raw.length !== 32) throw new Error("ENCRYPTION_KEY must be base64 of exactly 32 bytes");
  return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}

export async function encryptSecret(key: CryptoKey, plaintext: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, new TextEncoder().encode(plaintext)));
  const out = new Uint8Array(IV_BYTES + sealed.length);
  out.set(iv);
  out.set(sealed, IV_BYTES);
  return toBase64(out);
}

export async function decryptSecret(key: CryptoKey, stored: string): Promise<string> {
  const bytes = fromBase64(stored);
  const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes.slice(0, IV_BYTES) }, key, bytes.slice(IV_BYTES));
  return new TextDecoder().decode(plain);
}

export function generateEncryptionKey(): string {
  return toBase64(crypto.getRandomValues(new Uint8Array(32)));
}

/**
 * Opens stored secrets under one encryption key, remembering what it opened: the gateway decrypts
 * an endpoint's credential on every request otherwise (a key import and an AES-GCM decrypt, two
 * promises). Plaintext stays in the isolate's memory only, as it would for the length of each
 * request anyway; it is never written anywhere. Keyed by the stored form, so a changed credential
 * is a new entry; bound to the encryption key it was built with (`for` gives a new opener when that
 * key differs), so nothing opened under one key is returned under another. Bounded: past
 * `maxEntries` the oldest entry is dropped. A failed open is not remembered.
 */
export class SecretOpener {
  private readonly opened = new Map<string, string>();
  private key: Promise<CryptoKey> | null = null;

  constructor(
    readonly encryptionKey: string,
    private readonly maxEntries = 1_000,
  ) {}

  /** The opener for `encryptionKey`: `current` when it was built with that key, else a new one. */
  static for(current: SecretOpener | null, encryptionKey: string): SecretOpener {
    return current?.encryptionKey === encryptionKey ? current : new SecretOpener(encryptionKey);
  }

  get size(): number {
    return this.opened.size;
  }

  /** The plaintext of `stored`: from memory when opened before, else decrypted (and remembered). */
  open(stored: string): string | Promise<string> {
    const known = this.opened.get(stored);
    if (known !== undefined) return known;
    return this.decrypt(stored);
  }

  private async decrypt(stored: string): Promise<string> {
    this.key ??= importSecretKey(this.encryptionKey);
    let key: CryptoKey;
    try {
      key = await this.key;
    } catch (err) {
      this.key = null;
      throw err;
    }
    const plain = await decryptSecret(key, stored);
    if (this.opened.size >= this.maxEntries) this.opened.delete(this.opened.keys().next().value!);
    this.opened.set(stored, plain);
    return plain;
  }
}
