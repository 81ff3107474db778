/**
 * The batch runner's headers (shared/batch-headers.ts): what they may claim about the pricing time
 * and the completion window, at the edges of the allowed range.
 */
import { describe, expect, it } from "vitest";
import { BATCH_CLOCK_SKEW_MS, BatchHeaderError, batchInfoFrom, windowMs } from "../../shared/batch-headers.ts";

const NOW = Date.parse("2026-12-03T08:00:00Z");
const WINDOWS = ["24h", "1h"];
const H = 3_600_000;

function read(headers: Record<string, string>, windows = WINDOWS) {
  return batchInfoFrom(new Headers(headers), windows, NOW);
}

function refusal(headers: Record<string, string>, windows = WINDOWS): string {
  try {
    read(headers, windows);
  } catch (err) {
    if (err instanceof BatchHeaderError) return err.header;
    throw err;
  }
  throw new Error("accepted");
}

describe("batch headers", () => {
  it("reads every field, normalising ids and the time", () => {
    expect(
      read({
        "x-fusillade-batch-id": "5B0C6A3E-4F6B-4C5A-9D7E-1A2B3C4D5E6F",
        "x-fusillade-request-id": "not-a-uuid",
        "x-fusillade-custom-id": "row-7",
        "x-fusillade-batch-completion-window": "1h",
        "x-fusillade-batch-created-at": "2026-12-03T07:00:00+00:00",
      }),
    ).toEqual({ batch_id: "5b0c6a3e-4f6b-4c5a-9d7e-1a2b3c4d5e6f", request_id: null, custom_id: "row-7", completion_window: "1h", created_at: "2026-12-03T07:00:00.000Z", request_source: "" });
  });

  it("a creation time exactly at the longest window plus one hour is accepted; a millisecond older is not", () => {
    expect(read({ "x-fusillade-batch-created-at": new Date(NOW - 25 * H).toISOString() }).created_at).toBe(new Date(NOW - 25 * H).toISOString());
    expect(refusal({ "x-fusillade-batch-created-at": new Date(NOW - 25 * H - 1).toISOString() })).toBe("x-fusillade-batch-created-at");
    // The bound follows the configured windows.
    expect(refusal({ "x-fusillade-batch-created-at": new Date(NOW - 3 * H).toISOString() }, ["1h"])).toBe("x-fusillade-batch-created-at");
  });

  it("the future is refused beyond the clock skew", () => {
    expect(read({ "x-fusillade-batch-created-at": new Date(NOW + BATCH_CLOCK_SKEW_MS).toISOString() }).created_at).not.toBeNull();
    expect(refusal({ "x-fusillade-batch-created-at": new Date(NOW + BATCH_CLOCK_SKEW_MS + 1).toISOString() })).toBe("x-fusillade-batch-created-at");
  });

  it("1999 (no tariff: free) and unreadable times are refused", () => {
    expect(refusal({ "x-fusillade-batch-created-at": "1999-01-01" })).toBe("x-fusillade-batch-created-at");
    expect(refusal({ "x-fusillade-batch-created-at": "soon" })).toBe("x-fusillade-batch-created-at");
  });

  it("an unknown completion window is refused; none at all is fine", () => {
    expect(refusal({ "x-fusillade-batch-completion-window": "7d" })).toBe("x-fusillade-batch-completion-window");
    expect(refusal({ "x-fusillade-batch-completion-window": "24H" })).toBe("x-fusillade-batch-completion-window");
    expect(read({}).completion_window).toBeNull();
    expect(read({}).created_at).toBeNull();
  });

  it("window durations", () => {
    expect(windowMs("24h")).toBe(24 * H);
    expect(windowMs("30m")).toBe(30 * 60_000);
    expect(windowMs("7d")).toBe(7 * 24 * H);
    expect(windowMs("0h")).toBeNull();
    expect(windowMs("h")).toBeNull();
    expect(windowMs("1.5h")).toBeNull();
  });
});
