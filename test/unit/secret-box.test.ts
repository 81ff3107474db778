import { describe, expect, it } from "vitest";
import { decryptSecret, encryptSecret, generateEncryptionKey, importSecretKey, SecretOpener } from "../../shared/secret-box.ts";

describe("secret box (AES-GCM at rest)", () => {
  it("round-trips and never stores the plaintext", async () => {
    const key = await importSecretKey(generateEncryptionKey());
    const sealed = await encryptSecret(key, "sk-upstream-secret");
    expect(sealed).not.toContain("sk-upstream-secret");
    expect(await decryptSecret(key, sealed)).toBe("sk-upstream-secret");
    // A fresh IV each time: the same secret never encrypts to the same text.
    expect(await encryptSecret(key, "sk-upstream-secret")).not.toBe(sealed);
  });

  it("refuses a tampered ciphertext or the wrong key", async () => {
    const key = await importSecretKey(generateEncryptionKey());
    const sealed = await encryptSecret(key, "secret");
    const bytes = Buffer.from(sealed, "base64");
    bytes[bytes.length - 1]! ^= 1;
    await expect(decryptSecret(key, bytes.toString("base64"))).rejects.toThrow();
    const other = await importSecretKey(generateEncryptionKey());
    await expect(decryptSecret(other, sealed)).rejects.toThrow();
  });

  it("rejects keys that are not 32 bytes", async () => {
    await expect(importSecretKey(Buffer.alloc(16).toString("base64"))).rejects.toThrow(/32 bytes/);
  });
});

describe("SecretOpener (the gateway's opened upstream credentials)", () => {
  it("opens a stored secret once and answers from memory after that", async () => {
    const base64 = generateEncryptionKey();
    const sealed = await encryptSecret(await importSecretKey(base64), "sk-upstream");
    const opener = new SecretOpener(base64);
    const first = opener.open(sealed);
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toBe("sk-upstream");
    // Remembered: a plain string, no decrypt (and no promise) the second time.
    expect(opener.open(sealed)).toBe("sk-upstream");
    // A changed credential is stored anew (fresh IV), so it is a new entry, never the old value.
    const rotated = await encryptSecret(await importSecretKey(base64), "sk-rotated");
    expect(await opener.open(rotated)).toBe("sk-rotated");
    expect(opener.size).toBe(2);
  });

  it("never returns what it opened under another encryption key", async () => {
    const a = generateEncryptionKey();
    const sealed = await encryptSecret(await importSecretKey(a), "sk-upstream");
    const opener = SecretOpener.for(null, a);
    expect(await opener.open(sealed)).toBe("sk-upstream");
    expect(SecretOpener.for(opener, a)).toBe(opener);
    const other = SecretOpener.for(opener, generateEncryptionKey());
    expect(other).not.toBe(opener);
    await expect(Promise.resolve().then(() => other.open(sealed))).rejects.toThrow();
  });

  it("does not remember a failed open, and stays bounded", async () => {
    const base64 = generateEncryptionKey();
    const key = await importSecretKey(base64);
    const opener = new SecretOpener(base64, 2);
    const sealed = await encryptSecret(key, "secret");
    const tampered = Buffer.from(sealed, "base64");
    tampered[tampered.length - 1]! ^= 1;
    await expect(Promise.resolve().then(() => opener.open(tampered.toString("base64")))).rejects.toThrow();
    expect(opener.size).toBe(0);
    const sealedAll = await Promise.all(["one", "two", "three"].map((s) => encryptSecret(key, s)));
    for (const s of sealedAll) await opener.open(s);
    expect(opener.size).toBe(2);
    // The oldest went first; it still opens (decrypted again).
    expect(opener.open(sealedAll[0]!)).toBeInstanceOf(Promise);
    expect(await opener.open(sealedAll[0]!)).toBe("one");
  });

  it("reports a malformed encryption key on every use, not once", async () => {
    const opener = new SecretOpener(Buffer.alloc(16).toString("base64"));
    await expect(Promise.resolve().then(() => opener.open("AAAA"))).rejects.toThrow(/32 bytes/);
    await expect(Promise.resolve().then(() => opener.open("AAAA"))).rejects.toThrow(/32 bytes/);
  });
});
