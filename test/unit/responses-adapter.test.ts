/**
 * The Responses ⇄ Chat Completions adapter as pure functions: requests translated field by field,
 * chat answers into Responses objects, and chat SSE into Responses events — the same events
 * whether the upstream's bytes arrive whole, byte by byte or split at every offset.
 */
import { describe, expect, it } from "vitest";
import { AdapterError, chatRequestFromResponses, ChatToResponsesStream, responseFromChat, type ResponseContext } from "../../shared/responses-adapter.ts";

const ctx = (request: Record<string, unknown> = {}): ResponseContext => ({ id: "resp_abc", alias: "my-alias", createdAt: 1_700_000_000, request });

describe("Responses request → chat request", () => {
  it("a string input with instructions and sampling fields", () => {
    expect(
      chatRequestFromResponses(
        { model: "my-alias", instructions: "be brief", input: "hi", max_output_tokens: 50, temperature: 0.2, top_p: 0.9, store: true, metadata: { a: "b" } },
        "upstream",
      ),
    ).toEqual({
      model: "upstream",
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hi" },
      ],
      max_tokens: 50,
      temperature: 0.2,
      top_p: 0.9,
    });
  });

  it("streaming always asks for the usage chunk", () => {
    const chat = chatRequestFromResponses({ model: "a", input: "hi", stream: true }, "up");
    expect(chat).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(chatRequestFromResponses({ model: "a", input: "hi", stream: false }, "up")).not.toHaveProperty("stream");
  });

  it("message items with input_text / output_text content, developer as system, images kept", () => {
    const chat = chatRequestFromResponses(
      {
        model: "a",
        input: [
          { role: "developer", content: "rules" },
          { type: "message", role: "user", content: [{ type: "input_text", text: "one " }, { type: "input_text", text: "two" }] },
          { type: "message", role: "assistant", content: [{ type: "output_text", text: "three" }] },
          { role: "user", content: [{ type: "input_text", text: "look" }, { type: "input_image", image_url: "https://x/y.png", detail: "low" }] },
        ],
      },
      "up",
    );
    expect(chat.messages).toEqual([
      { role: "system", content: "rules" },
      { role: "user", content: "one two" },
      { role: "assistant", content: "three" },
      { role: "user", content: [{ type: "text", text: "look" }, { type: "image_url", image_url: { url: "https://x/y.png", detail: "low" } }] },
    ]);
  });

  it("function tools flattened → nested, tool_choice, and a function-call round trip as tool_calls / tool messages", () => {
    const chat = chatRequestFromResponses(
      {
        model: "a",
        tools: [{ type: "function", name: "get_weather", description: "Weather", parameters: { type: "object", properties: { city: { type: "string" } } }, strict: true }],
        tool_choice: { type: "function", name: "get_weather" },
        parallel_tool_calls: true,
        input: [
          { role: "user", content: "weather in Paris and Rome?" },
          { type: "function_call", call_id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' },
          { type: "function_call", call_id: "call_2", name: "get_weather", arguments: '{"city":"Rome"}' },
          { type: "function_call_output", call_id: "call_1", output: "sunny" },
          { type: "function_call_output", call_id: "call_2", output: [{ type: "input_text", text: "rain" }] },
        ],
      },
      "up",
    );
    expect(chat.tools).toEqual([
      { type: "function", function: { name: "get_weather", description: "Weather", parameters: { type: "object", properties: { city: { type: "string" } } }, strict: true } },
    ]);
    expect(chat.tool_choice).toEqual({ type: "function", function: { name: "get_weather" } });
    expect(chat.parallel_tool_calls).toBe(true);
    expect(chat.messages).toEqual([
      { role: "user", content: "weather in Paris and Rome?" },
      {
        role: "assistant",
        content: null,
        tool_calls: [
          { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
          { id: "call_2", type: "function", function: { name: "get_weather", arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: "tool", tool_call_id: "call_1", content: "sunny" },
      { role: "tool", tool_call_id: "call_2", content: "rain" },
    ]);
  });

  it("text.format json_schema → response_format", () => {
    const chat = chatRequestFromResponses({ model: "a", input: "x", text: { format: { type: "json_schema", name: "out", schema: { type: "object" }, strict: true } } }, "up");
    expect(chat.response_format).toEqual({ type: "json_schema", json_schema: { name: "out", schema: { type: "object" }, strict: true } });
  });

  it("what chat cannot express is a 400 naming the field", () => {
    const param = (body: Record<string, unknown>) => {
      try {
        chatRequestFromResponses({ model: "a", ...body }, "up");
      } catch (err) {
        expect(err).toBeInstanceOf(AdapterError);
        return (err as AdapterError).param;
      }
      throw new Error("no error");
    };
    expect(param({ input: "x", previous_response_id: "resp_1" })).toBe("previous_response_id");
    expect(param({ input: "x", tools: [{ type: "function", name: "f" }, { type: "web_search" }] })).toBe("tools[1].type");
    expect(param({ input: [{ type: "reasoning", summary: [] }] })).toBe("input[0]");
    expect(param({ input: 42 })).toBe("input");
    expect(param({ input: [{ role: "assistant", content: [{ type: "input_image", image_url: "https://x" }] }] })).toBe("input[0].content[0]");
    expect(param({ input: [{ role: "user", content: "ok" }, { type: "function_call", name: "f" }] })).toBe("input[1]");
  });
});

describe("chat completion → Responses object", () => {
  const usage = { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21, prompt_tokens_details: { cached_tokens: 4 }, completion_tokens_details: { reasoning_tokens: 2 } };

  it("a text answer: id, alias, status, output message and usage", () => {
    const response = responseFromChat(
      { id: "chatcmpl-1", object: "chat.completion", model: "upstream", choices: [{ index: 0, message: { role: "assistant", content: "Hello" }, finish_reason: "stop" }], usage },
      ctx({ instructions: "be brief", temperature: 0.5 }),
    );
    expect(response).toMatchObject({
      id: "resp_abc",
      object: "response",
      created_at: 1_700_000_000,
      status: "completed",
      model: "my-alias",
      instructions: "be brief",
      temperature: 0.5,
      incomplete_details: null,
      output: [{ type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "Hello", annotations: [] }] }],
      usage: { input_tokens: 12, output_tokens: 9, total_tokens: 21, input_tokens_details: { cached_tokens: 4 }, output_tokens_details: { reasoning_tokens: 2 } },
    });
  });

  it("tool calls become function_call items; length becomes incomplete", () => {
    const response = responseFromChat(
      {
        choices: [
          {
            message: { role: "assistant", content: null, tool_calls: [{ id: "call_9", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] },
            finish_reason: "tool_calls",
          },
        ],
        usage,
      },
      ctx(),
    );
    expect(response?.status).toBe("completed");
    expect(response?.output).toEqual([{ type: "function_call", id: "fc_abc_0", call_id: "call_9", name: "get_weather", arguments: '{"city":"Paris"}', status: "completed" }]);

    const cut = responseFromChat({ choices: [{ message: { content: "Hel" }, finish_reason: "length" }], usage }, ctx());
    expect(cut).toMatchObject({ status: "incomplete", incomplete_details: { reason: "max_output_tokens" }, output: [{ status: "incomplete" }] });
  });

  it("something that is not a chat completion is null", () => {
    expect(responseFromChat({ choices: [] }, ctx())).toBeNull();
    expect(responseFromChat({ object: "response" }, ctx())).toBeNull();
  });
});

const enc = new TextEncoder();
const dec = new TextDecoder();

const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: "c1", object: "chat.completion.chunk", model: "up", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
const usageChunk = `data: ${JSON.stringify({ id: "c1", object: "chat.completion.chunk", choices: [], usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 } })}\n\n`;

const TEXT_STREAM = chunk({ role: "assistant", content: "" }) + chunk({ content: "Hello" }) + chunk({ content: " wörld" }) + chunk({}, "stop") + usageChunk + "data: [DONE]\n\n";

const TOOL_STREAM =
  chunk({ role: "assistant", content: null, tool_calls: [{ index: 0, id: "call_7", type: "function", function: { name: "get_weather", arguments: "" } }] }) +
  chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }) +
  chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }) +
  chunk({}, "tool_calls") +
  usageChunk +
  "data: [DONE]\n\n";

interface Event {
  type: string;
  sequence_number: number;
  [k: string]: unknown;
}

function run(upstream: string, split: (bytes: Uint8Array) => Uint8Array[], clean = true): { events: Event[]; stream: ChatToResponsesStream } {
  const stream = new ChatToResponsesStream(ctx());
  let text = dec.decode(stream.start());
  for (const piece of split(enc.encode(upstream))) text += dec.decode(stream.push(piece));
  text += dec.decode(stream.finish(clean));
  const events = text
    .split("\n\n")
    .filter(Boolean)
    .map((block) => {
      const [eventLine, dataLine] = block.split("\n");
      const event = JSON.parse(dataLine!.slice("data: ".length)) as Event;
      expect(eventLine).toBe(`event: ${event.type}`);
      return event;
    });
  return { events, stream };
}

const whole = (b: Uint8Array) => [b];
const byteByByte = (b: Uint8Array) => Array.from(b, (_, i) => b.subarray(i, i + 1));

describe("chat SSE → Responses events", () => {
  it("a text stream: the full event sequence, numbered, ending in response.completed with usage", () => {
    const { events, stream } = run(TEXT_STREAM, whole);
    expect(events.map((e) => e.type)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events[6]).toMatchObject({ text: "Hello wörld", output_index: 0, content_index: 0 });
    const completed = events.at(-1)!.response as Record<string, unknown>;
    expect(completed).toMatchObject({
      id: "resp_abc",
      model: "my-alias",
      status: "completed",
      output: [{ type: "message", status: "completed", content: [{ type: "output_text", text: "Hello wörld" }] }],
      usage: { input_tokens: 12, output_tokens: 9, total_tokens: 21 },
    });
    expect(stream.observation).toMatchObject({ finishReason: "stop", sawDone: true, errorFrame: null, usage: { prompt_tokens: 12, completion_tokens: 9 } });
    expect(stream.observation.finalResponse).toEqual(completed);
  });

  it("a tool call: function_call item, argument deltas and done", () => {
    const { events } = run(TOOL_STREAM, whole);
    expect(events.map((e) => e.type)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(events[5]).toMatchObject({ arguments: '{"city":"Paris"}', name: "get_weather" });
    expect((events.at(-1)!.response as { output: unknown }).output).toEqual([
      { type: "function_call", id: "fc_abc_0", call_id: "call_7", name: "get_weather", arguments: '{"city":"Paris"}', status: "completed" },
    ]);
  });

  it("the same events however the upstream's bytes are split (whole, byte by byte, every offset, CRLF)", () => {
    for (const upstream of [TEXT_STREAM, TOOL_STREAM, TEXT_STREAM.replace(/\n/g, "\r\n")]) {
      const expected = run(upstream, whole).events;
      expect(run(upstream, byteByByte).events).toEqual(expected);
      const bytes = enc.encode(upstream);
      for (let at = 1; at < bytes.length; at++) {
        expect(run(upstream, () => [bytes.subarray(0, at), bytes.subarray(at)]).events).toEqual(expected);
      }
    }
  });

  it("finish_reason length ends in response.incomplete", () => {
    const { events, stream } = run(chunk({ content: "Hel" }) + chunk({}, "length") + usageChunk + "data: [DONE]\n\n", whole);
    expect(events.at(-1)).toMatchObject({ type: "response.incomplete", response: { status: "incomplete", incomplete_details: { reason: "max_output_tokens" } } });
    expect(stream.observation.finalResponse).toMatchObject({ status: "incomplete" });
  });

  it("a cut upstream never gets an invented response.completed", () => {
    const cut = chunk({ content: "Hello" });
    for (const clean of [false, true]) {
      const { events, stream } = run(cut, whole, clean);
      expect(events.map((e) => e.type)).not.toContain("response.completed");
      expect(events.at(-1)?.type).toBe("response.output_text.delta");
      expect(stream.observation.finalResponse).toBeNull();
    }
    // Even with the finish reason seen, a read error is not a completion.
    expect(run(chunk({ content: "Hello" }, "stop"), whole, false).stream.observation.finalResponse).toBeNull();
  });

  it("an upstream error frame becomes an error event, and nothing completes", () => {
    const upstream = chunk({ content: "Hello" }) + `data: ${JSON.stringify({ error: { message: "boom", type: "server_error", code: "mock_error", param: null } })}\n\n` + chunk({ content: "late" });
    const { events, stream } = run(upstream, whole);
    expect(events.at(-1)).toMatchObject({ type: "error", code: "mock_error", message: "boom", param: null });
    expect(events.filter((e) => e.type === "response.output_text.delta")).toHaveLength(1);
    expect(stream.observation.errorFrame).toMatchObject({ message: "boom" });
    expect(stream.observation.finalResponse).toBeNull();
  });

  it("usage read as the meter reads it: null details, usage on a content chunk", () => {
    const odd = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "Hi" }, finish_reason: "stop" }], usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6, prompt_tokens_details: null } })}\n\n`;
    const { events, stream } = run(odd + "data: [DONE]\n\n", whole);
    expect(events.filter((e) => e.type === "response.output_text.delta")).toHaveLength(1);
    expect(stream.observation.usage).toEqual({ prompt_tokens: 5, completion_tokens: 1, total_tokens: 6, reasoning_tokens: 0, cached_tokens: 0 });
    expect(events.at(-1)).toMatchObject({
      type: "response.completed",
      response: { usage: { input_tokens: 5, output_tokens: 1, total_tokens: 6, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } } },
    });
  });

  it("a clean end without [DONE] but with a finish reason still completes; comments and unknown data are ignored", () => {
    const { events } = run(": keep-alive\n\n" + chunk({ content: "Hi" }) + "data: not json\n\n" + chunk({}, "stop") + usageChunk.trimEnd(), whole);
    expect(events.at(-1)).toMatchObject({ type: "response.completed", response: { usage: { input_tokens: 12 } } });
  });
});
