import { describe, expect, it } from "vitest";
import { SsePassThrough } from "../../shared/sse-pass-through.ts";
import { StreamEditor } from "../../shared/sse-edit.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const editor = (o: Partial<ConstructorParameters<typeof StreamEditor>[0]> = {}) => new StreamEditor({ alias: "demo-model", dropNullUsage: false, previousResponseId: null, ...o });

describe("StreamEditor", () => {
  it("renames the upstream's model in every event that carries it; the first value is the served name", () => {
    const e = editor();
    const chunk = 'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"mock-gpt","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n';
    expect(dec(e.edit(enc(chunk)))).toBe(chunk.replace('"model":"mock-gpt"', '"model":"demo-model"'));
    expect(e.servedModel).toBe("mock-gpt");
    const completed = 'event: response.completed\ndata: {"type":"response.completed","response":{"id":"resp_1","model":"mock-gpt","metadata":{"model":"other"},"output":[]}}\n\n';
    expect(dec(e.edit(enc(completed)))).toBe(completed.replace('"model":"mock-gpt"', '"model":"demo-model"'));
  });

  it("leaves text that only looks like a model field, and blocks without one, byte for byte (same array)", () => {
    const e = editor();
    e.edit(enc('data: {"model":"mock-gpt"}\n\n'));
    const tricky = enc('data: {"choices":[{"delta":{"content":"say \\"model\\":\\"mock-gpt\\" now"}}]}\n\n');
    expect(e.edit(tricky)).toBe(tricky);
    const delta = enc('event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"x"}\n\n');
    expect(e.edit(delta)).toBe(delta);
  });

  it("handles escapes and spaces in the model value, and aliases that need escaping", () => {
    const e = editor({ alias: 'org/"q"' });
    const out = dec(e.edit(enc('data: {"model": "a\\"b","x":1}\n\n')));
    expect(JSON.parse(out.slice(6))).toEqual({ model: 'org/"q"', x: 1 });
    expect(e.servedModel).toBe('a"b');
  });

  it("drops \"usage\":null with its comma (before or after) only when asked", () => {
    const chunk = 'data: {"id":"c","model":"m","choices":[],"usage":null}\n\n';
    expect(dec(editor({ dropNullUsage: true }).edit(enc(chunk)))).toBe('data: {"id":"c","model":"demo-model","choices":[]}\n\n');
    expect(dec(editor({ dropNullUsage: true }).edit(enc('data: {"usage":null,"id":"c"}\n\n')))).toBe('data: {"id":"c"}\n\n');
    expect(dec(editor().edit(enc(chunk)))).toContain('"usage":null');
  });

  it("edits in any order of the fields, and in long blocks", () => {
    const e = editor({ dropNullUsage: true });
    e.edit(enc('data: {"model":"mock-gpt"}\n\n'));
    expect(dec(e.edit(enc('data: {"usage":null,"model":"mock-gpt","x":1}\n\n')))).toBe('data: {"model":"demo-model","x":1}\n\n');
    const long = "y".repeat(5000);
    const block = `data: {"id":"${long}","model":"mock-gpt","choices":[{"delta":{"content":"${long}"}}],"usage":null}\n\n`;
    expect(dec(e.edit(enc(block)))).toBe(`data: {"id":"${long}","model":"demo-model","choices":[{"delta":{"content":"${long}"}}]}\n\n`);
  });

  it("names the previous response in response objects", () => {
    const e = editor({ previousResponseId: "resp_prev" });
    const created = 'data: {"type":"response.created","response":{"id":"resp_2","model":"m","previous_response_id":null}}\n\n';
    expect(JSON.parse(dec(e.edit(enc(created))).slice(6))).toEqual({ type: "response.created", response: { id: "resp_2", model: "demo-model", previous_response_id: "resp_prev" } });
  });
});

describe("SsePassThrough with an editor", () => {
  const stream =
    'data: {"id":"c","model":"mock-gpt","choices":[{"index":0,"delta":{"content":"h\u00e9"},"finish_reason":null}],"usage":null}\r\n\r\n' +
    'data: {"id":"c","model":"mock-gpt","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\r\n\r\n' +
    'data: {"id":"c","model":"mock-gpt","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\r\n\r\n' +
    "data: [DONE]\r\n\r\n";
  const expected =
    'data: {"id":"c","model":"demo-model","choices":[{"index":0,"delta":{"content":"h\u00e9"},"finish_reason":null}]}\r\n\r\n' +
    'data: {"id":"c","model":"demo-model","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\r\n\r\n' +
    "data: [DONE]\r\n\r\n";

  function run(chunks: Uint8Array[]): string {
    const passThrough = new SsePassThrough({ dropUsageChunk: true, editor: new StreamEditor({ alias: "demo-model", dropNullUsage: true, previousResponseId: null }) });
    const out: Uint8Array[] = [];
    const take = (parts: ReturnType<SsePassThrough["push"]>) => {
      for (const p of parts) if (p instanceof Uint8Array) out.push(p);
    };
    for (const c of chunks) take(passThrough.push(c));
    take(passThrough.end());
    expect(passThrough.observation.servedModel).toBe("mock-gpt");
    expect(passThrough.observation.usage?.total_tokens).toBe(5);
    return dec(new Uint8Array(out.flatMap((b) => [...b])));
  }

  it("gives the same bytes whole, byte by byte and split at every offset", () => {
    const bytes = enc(stream);
    expect(run([bytes])).toBe(expected);
    expect(run([...bytes].map((b) => Uint8Array.of(b)))).toBe(expected);
    for (let i = 1; i < bytes.length; i++) expect(run([bytes.subarray(0, i), bytes.subarray(i)])).toBe(expected);
  });
});
