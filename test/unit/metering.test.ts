/**
 * The one rule for how a relayed stream ended (shared/metering.ts): every combination of end
 * marker, usage, error frame, cut and client departure, for both relays' observations.
 */
import { describe, expect, it } from "vitest";
import { completionTextOfJson, completionTextOfSse, promptSegments, streamVerdict, Transcript, type StreamEnd } from "../../shared/metering.ts";
import { emptyObservation, type StreamObservation } from "../../shared/sse-pass-through.ts";
import { ZERO_USAGE } from "../../shared/usage-message.ts";

const usage = { ...ZERO_USAGE, prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 };

function end(seen: Partial<StreamObservation>, how: Partial<Omit<StreamEnd, "observation">> = {}): StreamEnd {
  return { observation: { ...emptyObservation(), ...seen }, cut: false, clientGone: false, firstByteAt: null, transcript: new Transcript(), ...how };
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

const enc = (s: string) => new TextEncoder().encode(s);

describe("what Tollgate counts when the upstream reports no usage", () => {
  it("a chat stream's relayed text: content and tool-call deltas, however the bytes were split", () => {
    const sse =
      'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n' +
      'data: {"choices":[{"index":0,"delta":{"content":"Hé"}}]}\r\n\r\n' +
      'data: {"choices":[{"index":0,"delta":{"content":"llo"},"finish_reason":null}]}\n\n' +
      'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"f","arguments":"{\\"a\\":1}"}}]}}]}\n\n' +
      "data: [DONE]\n\n";
    const bytes = enc(sse);
    for (let cut = 0; cut <= bytes.length; cut += 7) {
      const t = new Transcript();
      t.push(bytes.subarray(0, cut));
      t.push(bytes.subarray(cut));
      expect(t.completionText()).toBe('Héllof{"a":1}');
    }
  });

  it("completions and Responses streams", () => {
    expect(completionTextOfSse('data: {"choices":[{"text":"ab"}]}\n\ndata: {"choices":[{"text":"c"}]}\n\n')).toBe("abc");
    expect(completionTextOfSse('event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"Hi"}\n\nevent: response.completed\ndata: {"type":"response.completed","response":{}}\n\n')).toBe("Hi");
  });

  it("a whole answer: chat, completions, Responses output; a body that is not JSON counts whole", () => {
    expect(completionTextOfJson({ choices: [{ message: { content: "Hello" } }] }, "")).toBe("Hello");
    expect(completionTextOfJson({ choices: [{ text: "abc" }] }, "")).toBe("abc");
    expect(completionTextOfJson({ output: [{ type: "message", content: [{ type: "output_text", text: "Yo" }] }, { type: "function_call", name: "f", arguments: "{}" }] }, "")).toBe("Yo{}f");
    expect(completionTextOfJson({ object: "list", data: [] }, "")).toBe("");
    expect(completionTextOfJson(null, "not json at all")).toBe("not json at all");
  });

  it("the prompt's segments: messages' text parts, other parts as JSON, prompt, input, instructions, tools", () => {
    expect(
      promptSegments({
        instructions: "Be brief.",
        messages: [
          { role: "system", content: "sys" },
          { role: "user", content: [{ type: "text", text: "hi" }, { type: "image_url", image_url: { url: "x" } }] },
          { role: "assistant", tool_calls: [{ id: "c", function: { name: "f", arguments: "{}" } }] },
        ],
        tools: [{ type: "function", function: { name: "f" } }],
      }),
    ).toEqual(["Be brief.", "sys", "hi", '{"type":"image_url","image_url":{"url":"x"}}', '{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]}', '[{"type":"function","function":{"name":"f"}}]']);
    expect(promptSegments({ prompt: ["a", "b"] })).toEqual(["a", "b"]);
    expect(promptSegments({ input: "embed me" })).toEqual(["embed me"]);
  });
});
