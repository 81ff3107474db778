import { describe, expect, it } from "vitest";
import { decryptSecret, encryptSecret, generateEncryptionKey, importSecretKey } from "../../shared/secret-box.ts";

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
