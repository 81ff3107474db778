/**
 * The one rule for how a relayed stream ended (shared/metering.ts): every combination of end
 * marker, usage, error frame, cut and client departure, for both relays' observations.
 */
import { describe, expect, it } from "vitest";
import { streamVerdict, type StreamEnd } from "../../shared/metering.ts";
import { emptyObservation, type StreamObservation } from "../../shared/sse-tee.ts";
import { ZERO_USAGE } from "../../shared/usage-message.ts";

const usage = { ...ZERO_USAGE, prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 };

function end(seen: Partial<StreamObservation>, how: Partial<Omit<StreamEnd, "observation">> = {}): StreamEnd {
  return { observation: { ...emptyObservation(), ...seen }, cut: false, clientGone: false, firstByteAt: null, ...how };
}

describe("streamVerdict", () => {
  it("a stream with [DONE] and usage is complete, not truncated", () => {
    expect(streamVerdict(end({ sawDone: true, usage, finishReason: "stop" }))).toEqual({ usage, finishReason: "stop", responseType: "stream", truncated: false, complete: true });
  });

  it("a Responses stream ends with its terminal response (no [DONE])", () => {
    const v = streamVerdict(end({ usage, finishReason: "completed", finalResponse: { status: "completed" } }));
    expect(v).toMatchObject({ truncated: false, complete: true });
  });

  it("no end marker, no usage: truncated", () => {
    expect(streamVerdict(end({ finishReason: "stop" })).truncated).toBe(true);
  });

  it("a cut is truncated even after usage", () => {
    expect(streamVerdict(end({ usage, sawDone: true }, { cut: true }))).toMatchObject({ truncated: true, complete: false });
  });

  it("an error frame is truncated and a stream_error", () => {
    expect(streamVerdict(end({ sawDone: true, errorFrame: { message: "boom" } }))).toMatchObject({ truncated: true, responseType: "stream_error", complete: false });
  });

  it("a client that left before usage: truncated; after usage: billed in full but not complete for side effects", () => {
    expect(streamVerdict(end({ sawDone: true }, { clientGone: true })).truncated).toBe(true);
    expect(streamVerdict(end({ sawDone: true, usage }, { clientGone: true }))).toMatchObject({ truncated: false, complete: false, usage });
  });

  it("[DONE] without usage is not truncated but not complete (nothing to bill from)", () => {
    expect(streamVerdict(end({ sawDone: true }))).toMatchObject({ truncated: false, complete: false, usage: null });
  });
});
