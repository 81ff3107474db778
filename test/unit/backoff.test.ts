import { describe, expect, it } from "vitest";
import { RETRY_MAX_DELAY_SECONDS, retryDelaySeconds } from "../../shared/backoff.ts";

describe("retryDelaySeconds", () => {
  it("doubles from 2 s per attempt and is capped", () => {
    expect([1, 2, 3, 4, 5].map(retryDelaySeconds)).toEqual([2, 4, 8, 16, 32]);
    expect(retryDelaySeconds(50)).toBe(RETRY_MAX_DELAY_SECONDS);
    expect(retryDelaySeconds(0)).toBe(2);
  });
});
