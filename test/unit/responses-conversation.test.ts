import { describe, expect, it } from "vitest";
import { ConversationError, continueConversation } from "../../shared/responses-conversation.ts";

describe("continueConversation", () => {
  const previousRequest = { model: "m", instructions: "old rules", input: "hi" };
  const previousResponse = {
    id: "resp_1",
    output: [
      { type: "reasoning", id: "rs_1", summary: [] },
      { type: "message", id: "msg_1", status: "completed", role: "assistant", content: [{ type: "output_text", text: "hello", annotations: [] }, { type: "refusal", refusal: "x" }] },
      { type: "function_call", id: "fc_1", call_id: "call_1", name: "lookup", arguments: '{"q":1}', status: "completed" },
    ],
  };

  it("puts the previous input, the previous output (as input items) and this input in order", () => {
    const next = continueConversation({ model: "m", input: [{ type: "function_call_output", call_id: "call_1", output: "42" }], previous_response_id: "resp_1", instructions: "new rules" }, previousRequest, previousResponse);
    expect(next).toEqual({
      model: "m",
      instructions: "new rules", // the previous turn's instructions are not carried over
      input: [
        { type: "message", role: "user", content: "hi" },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "hello" }] },
        { type: "function_call", call_id: "call_1", name: "lookup", arguments: '{"q":1}' },
        { type: "function_call_output", call_id: "call_1", output: "42" },
      ],
    });
  });

  it("an earlier expanded request is carried whole; a malformed stored input is refused", () => {
    const expanded = { input: [{ type: "message", role: "user", content: "a" }, { type: "message", role: "assistant", content: [{ type: "output_text", text: "b" }] }, { type: "message", role: "user", content: "c" }] };
    const next = continueConversation({ input: "d", previous_response_id: "resp_2" }, expanded, { output: [] });
    expect((next.input as unknown[]).length).toBe(4);
    expect(next).not.toHaveProperty("previous_response_id");
    expect(() => continueConversation({ input: "x" }, { input: 42 }, { output: [] })).toThrow(ConversationError);
  });
});
