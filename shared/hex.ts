/**
 * Lower-case hex of a byte buffer (SHA-256 digests on the hot path: key hashes, prompt prefixes).
 * A lookup table and one string: the `Array.from(…).map(padStart).join` spelling costs tens of
 * microseconds per digest in workerd.
 */
const BYTE_HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

export function toHex(buf: ArrayBuffer | Uint8Array): string {
  const bytes = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += BYTE_HEX[bytes[i]!];
  return out;
}
