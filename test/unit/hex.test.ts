import { describe, expect, it } from "vitest";
import { toHex } from "../../shared/hex.ts";

describe("toHex", () => {
  it("spells every byte value as two lower-case digits, in order", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(toHex(all)).toBe(Buffer.from(all).toString("hex"));
    expect(toHex(all.buffer)).toBe(Buffer.from(all).toString("hex"));
    expect(toHex(new Uint8Array([0, 15, 16, 255]))).toBe("000f10ff");
    expect(toHex(new ArrayBuffer(0))).toBe("");
  });
});
