/**
 * A model server that speaks the OpenAI wire format, for `npm start`, tests and benchmarks:
 * chat completions (JSON and SSE with a terminal usage chunk), completions, embeddings (float
 * arrays, or base64 little-endian float32 for `encoding_format: "base64"`, the Node SDK's default),
 * responses (JSON and the full streaming event sequence the SDKs' `responses.stream()` assembles),
 * function tool calls on both APIs, and the model list. Token counts, latency and failure modes are configurable — in
 * process with `configure()`, or from another process with `POST /__mock/config`.
 *
 * Modes can also be chosen per model (see `optionsFor`): an upstream model name of `name+mode`
 * (for example `mock+hang`) affects only that model's requests, so parallel tests do not collide.
 *
 * It records the requests it receives (`requests`, `GET /__mock/requests`) so tests can assert
 * exactly what the gateway forwarded.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type FailureMode =
  | "none"
  /** answer 500 with an OpenAI error envelope */
  | "http_500"
  /** accept the connection, then destroy it without answering */
  | "disconnect"
  /** never answer (the gateway's timeout must fire) */
  | "hang"
  /** stream: send an error frame after the first content frame */
  | "error_frame"
  /** stream: close the connection after the first content frame, without [DONE] */
  | "cut_stream"
  /** stream: after the first content frame, send nothing more but keep the connection open */
  | "stall";

const FAILURE_MODES: readonly FailureMode[] = ["none", "http_500", "disconnect", "hang", "error_frame", "cut_stream", "stall"];

/**
 * Per-model modes: `name+mode[+mode…]`. A failure mode (see FailureMode); `slow` (20 frames,
 * 100 ms apart); `long` (30 frames, 100 ms apart); `wait` (300 ms before answering); `count` (prompt_tokens estimated from the request's size, about 3 characters a
 * token, so long prompts report realistic counts); `big` (the reply text grows by 300 KB, for
 * bodies that do not fit in a queue message); `tool` (kept for older tests: the same tool-call
 * behaviour every model has by default, see `wantsToolCall`); usage faults for metering tests: `nousage` (no
 * usage at all: the stream ends with [DONE] and no usage chunk), `badusage` (negative and string
 * counts), `hugeusage` (`prompt_tokens: 1e16`), `nulfinish` (a NUL in `finish_reason`) and
 * `notjson` (a 200 whose body is not JSON), `garbage` (invalid counts: a string, a negative
 * number and 1e16); `status503` (any `statusNNN`: answer NNN with an OpenAI error envelope).
 */
function lastRole(body: Record<string, unknown>): unknown {
  const messages = Array.isArray(body.messages) ? (body.messages as unknown[]) : [];
  return (messages[messages.length - 1] as { role?: unknown } | undefined)?.role;
}

/** The last Responses input item's type (`function_call_output` after a tool ran). */
function lastInputType(body: Record<string, unknown>): unknown {
  const input = Array.isArray(body.input) ? (body.input as unknown[]) : [];
  return (input[input.length - 1] as { type?: unknown } | undefined)?.type;
}

/** The first function tool's name, in the chat (`{function: {name}}`) or Responses (`{name}`) shape. */
function firstToolName(body: Record<string, unknown>): string | null {
  const tools = Array.isArray(body.tools) ? (body.tools as { type?: unknown; name?: unknown; function?: { name?: unknown } }[]) : [];
  const tool = tools.find((t) => t?.type === "function");
  const name = tool?.function?.name ?? tool?.name;
  return typeof name === "string" ? name : null;
}

/**
 * Like a real model asked to use a tool: a request offering a function tool (and not
 * `tool_choice: "none"`) whose last turn is not a tool's result is answered with a call of the
 * first function tool, arguments `{"city":"Paris"}` (finish reason `tool_calls`; on the Responses
 * API a `function_call` output item). After the tool's result it answers with text.
 */
function wantsToolCall(body: Record<string, unknown>): boolean {
  return firstToolName(body) !== null && body.tool_choice !== "none" && lastRole(body) !== "tool" && lastInputType(body) !== "function_call_output";
}

/** The chat tool call a request gets: the first function tool's name. */
function mockToolCall(body: Record<string, unknown>, id: string): { id: string; type: "function"; function: { name: string; arguments: string } } {
  return { id, type: "function", function: { name: firstToolName(body) ?? "tool", arguments: TOOL_ARGUMENTS } };
}

const TOOL_ARGUMENTS = '{"city":"Paris"}';

function optionsFor(model: string, base: MockOptions, body: Record<string, unknown>): MockOptions {
  const o = { ...base, toolCall: base.toolCall || wantsToolCall(body) };
  for (const mode of model.split("+").slice(1)) {
    if (mode === "slow") Object.assign(o, { frames: 20, frameIntervalMs: 100 });
    else if (mode === "long") Object.assign(o, { frames: 30, frameIntervalMs: 100 });
    else if (mode === "wait") o.ttfbMs = 300;
    else if (mode === "big") o.padBytes = 300_000;
    else if (mode === "tool") o.toolCall = wantsToolCall(body);
    else if (mode === "nousage" || mode === "badusage" || mode === "hugeusage" || mode === "garbage") o.usageFault = mode;
    else if (mode === "nulfinish") o.finishReason = "st\u0000op";
    else if (mode === "notjson") o.notJson = true;
    else if (/^status[1-5]\d\d$/.test(mode)) o.status = Number(mode.slice("status".length));
    else if (mode === "count") o.promptTokens = Math.max(base.promptTokens, Math.ceil(JSON.stringify(body.messages ?? body.input ?? body.prompt ?? "").length / 3));
    else if ((FAILURE_MODES as readonly string[]).includes(mode)) o.failure = mode as FailureMode;
  }
  return o;
}

export interface MockOptions {
  promptTokens: number;
  completionTokens: number;
  reasoningTokens: number;
  /** Delay before the response headers / first frame. */
  ttfbMs: number;
  /** Content frames in a stream (the completion tokens are spread over them). */
  frames: number;
  /** Delay between stream frames. */
  frameIntervalMs: number;
  failure: FailureMode;
  /** Extra reply text, in bytes (one more word/frame of `x`s); 0 = none. */
  padBytes: number;
  /** Answer with a tool call (set per request by `wantsToolCall`). */
  toolCall: boolean;
  /** How the usage report is broken, if it is (the `nousage`, `badusage`, `hugeusage` modes). */
  usageFault: "none" | "nousage" | "badusage" | "hugeusage" | "garbage";
  /** The finish reason of a finished answer. */
  finishReason: string;
  /** Answer 200 with a body that is not JSON (the `notjson` mode). */
  notJson: boolean;
  /** Answer this status with an OpenAI error envelope (the `status503` … modes); 0 = answer normally. */
  status: number;
}

export const DEFAULT_MOCK_OPTIONS: MockOptions = {
  promptTokens: 12,
  completionTokens: 9,
  reasoningTokens: 0,
  ttfbMs: 0,
  frames: 3,
  frameIntervalMs: 0,
  failure: "none",
  padBytes: 0,
  toolCall: false,
  usageFault: "none",
  finishReason: "stop",
  notJson: false,
  status: 0,
};

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  /** The exact bytes of the response body sent (filled in when the response ends). */
  response: string;
}

export interface MockUpstream {
  url: string;
  /** Base URL to register as an inference endpoint (`…/v1`). */
  baseUrl: string;
  requests: RecordedRequest[];
  configure(options: Partial<MockOptions>): void;
  reset(): void;
  close(): Promise<void>;
}

const MAX_RECORDED = 200;

/** Every input's embedding (8 dimensions; each value exact in float32, so both encodings agree). */
export const EMBEDDING: readonly number[] = [0.125, -0.25, 0.5, 0.75, -1, 0.0625, 0.375, -0.5];

/** What OpenAI sends for `encoding_format: "base64"`: the vector's little-endian float32 bytes. */
function float32Base64(vector: readonly number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  return bytes.toString("base64");
}
const sleep = (ms: number) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function usage(o: MockOptions): Record<string, unknown> | undefined {
  if (o.usageFault === "nousage") return undefined;
  if (o.usageFault === "badusage") return { prompt_tokens: -5, completion_tokens: String(o.completionTokens), total_tokens: "x" };
  if (o.usageFault === "garbage") return { prompt_tokens: String(o.promptTokens), completion_tokens: -o.completionTokens, total_tokens: 1e16 };
  if (o.usageFault === "hugeusage") return { prompt_tokens: 1e16, completion_tokens: o.completionTokens, total_tokens: 1e16 + o.completionTokens };
  return {
    prompt_tokens: o.promptTokens,
    completion_tokens: o.completionTokens,
    total_tokens: o.promptTokens + o.completionTokens,
    prompt_tokens_details: { cached_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: o.reasoningTokens },
  };
}

/** The Responses API output item a request gets: a message with the reply text, or a function call. */
function responseOutputItem(responseId: string, body: Record<string, unknown>, o: MockOptions): Record<string, unknown> {
  if (o.toolCall) {
    return { type: "function_call", id: `fc_${responseId}`, call_id: `call_${responseId}`, name: firstToolName(body) ?? "tool", arguments: TOOL_ARGUMENTS, status: "completed" };
  }
  return { type: "message", id: `msg_${responseId}`, status: "completed", role: "assistant", content: [{ type: "output_text", text: words(o).join(""), annotations: [], logprobs: [] }] };
}

/** The `response` object's fields a real upstream fills in, echoed from the request. */
function responseFields(base: Record<string, unknown>, body: Record<string, unknown>) {
  return {
    ...base,
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    metadata: body.metadata ?? {},
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    temperature: body.temperature ?? 1,
    tool_choice: body.tool_choice ?? "auto",
    tools: body.tools ?? [],
    top_p: body.top_p ?? 1,
  };
}

function responseBody(base: Record<string, unknown>, body: Record<string, unknown>, o: MockOptions) {
  return {
    ...responseFields(base, body),
    status: "completed",
    output: [responseOutputItem(String(base.id), body, o)],
    usage: {
      input_tokens: o.promptTokens,
      output_tokens: o.completionTokens,
      total_tokens: o.promptTokens + o.completionTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens_details: { reasoning_tokens: o.reasoningTokens },
    },
  };
}

/** The reply text: one word per frame, so streamed and JSON answers concatenate to the same string. */
function words(o: MockOptions): string[] {
  const parts = Array.from({ length: Math.max(1, o.frames) }, (_, i) => (i === 0 ? "Hello" : ` word${i}`));
  if (o.padBytes > 0) parts.push(` ${"x".repeat(o.padBytes)}`);
  return parts;
}

export async function startMockUpstream(initial: Partial<MockOptions> = {}, port = 0): Promise<MockUpstream> {
  let options: MockOptions = { ...DEFAULT_MOCK_OPTIONS, ...initial };
  /** Upstream model names told to answer a status (POST /__mock/status). */
  const forcedStatus = new Map<string, number>();
  const requests: RecordedRequest[] = [];
  let seq = 0;
  // Stored responses are keyed by this id: unique across restarts, so a persistent dev database
  // never sees a second response under an old id.
  const instance = Math.random().toString(36).slice(2, 10);
  const responseId = () => `resp_mock${instance}_${++seq}`;

  /** Streams chat completions or completions chunks; a usage chunk when include_usage is set. */
  async function streamChoices(res: ServerResponse, kind: "chat" | "text", model: string, body: Record<string, unknown>, o: MockOptions) {
    const id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-mock${++seq}`;
    const object = kind === "chat" ? "chat.completion.chunk" : "text_completion";
    const created = Math.floor(Date.now() / 1000);
    const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    // Like OpenAI: with include_usage, every chunk but the last carries "usage":null.
    const frame = (data: Record<string, unknown>) => res.write(`data: ${JSON.stringify(includeUsage && !("usage" in data) && !("error" in data) ? { ...data, usage: null } : data)}\n\n`);
    const chunk = (text: string | null, finish: string | null) =>
      frame({
        id,
        object,
        created,
        model,
        choices: [kind === "chat" ? { index: 0, delta: text === null ? {} : { content: text }, finish_reason: finish } : { index: 0, text: text ?? "", finish_reason: finish }],
      });

    if (kind === "chat" && o.toolCall) {
      const call = mockToolCall(body, `call_mock${++seq}`);
      const delta = (d: unknown) => frame({ id, object, created, model, choices: [{ index: 0, delta: d, finish_reason: null }] });
      delta({ role: "assistant", content: null, tool_calls: [{ index: 0, id: call.id, type: "function", function: { name: call.function.name, arguments: "" } }] });
      const half = Math.floor(TOOL_ARGUMENTS.length / 2);
      for (const piece of [TOOL_ARGUMENTS.slice(0, half), TOOL_ARGUMENTS.slice(half)]) {
        await sleep(o.frameIntervalMs);
        delta({ tool_calls: [{ index: 0, function: { arguments: piece } }] });
      }
      frame({ id, object, created, model, choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] });
      if (includeUsage && o.usageFault !== "nousage") frame({ id, object, created, model, choices: [], usage: usage(o) });
      res.end("data: [DONE]\n\n");
      return;
    }
    if (kind === "chat") frame({ id, object, created, model, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] });
    const parts = words(o);
    for (let i = 0; i < parts.length; i++) {
      if (i > 0) await sleep(o.frameIntervalMs);
      if (res.destroyed) return;
      chunk(parts[i]!, null);
      if (i === 0 && o.failure === "error_frame") {
        frame({ error: { message: "mock upstream failure mid-stream", type: "server_error", code: "mock_error", param: null } });
        res.end();
        return;
      }
      if (i === 0 && o.failure === "cut_stream") {
        // Let the frames so far reach the client before the connection is cut.
        await new Promise<void>((resolve) => res.write(": cut\n\n", () => resolve()));
        res.destroy();
        return;
      }
      if (i === 0 && o.failure === "stall") {
        // Silent until the client gives up (or the mock's own safety limit).
        await new Promise<void>((resolve) => {
          const limit = setTimeout(resolve, 60_000).unref();
          res.once("close", () => {
            clearTimeout(limit);
            resolve();
          });
        });
        res.destroy();
        return;
      }
    }
    chunk(null, o.finishReason);
    if (includeUsage && o.usageFault !== "nousage") frame({ id, object, created, model, choices: [], usage: usage(o) });
    res.end("data: [DONE]\n\n");
  }

  /**
   * Streams Responses API events in OpenAI's order — response.created, response.in_progress,
   * output_item.added, content_part.added, output_text.delta…, output_text.done,
   * content_part.done, output_item.done, response.completed (which carries usage) — or for a tool
   * call output_item.added, function_call_arguments.delta…/done, output_item.done. The failure
   * modes `error_frame`, `cut_stream` and `stall` act after the first delta.
   */
  async function streamResponse(res: ServerResponse, model: string, body: Record<string, unknown>, o: MockOptions) {
    const id = responseId();
    const created = Math.floor(Date.now() / 1000);
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    let n = 0;
    const event = (type: string, data: Record<string, unknown>) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: n++, ...data })}\n\n`);
    const base = responseFields({ id, object: "response", created_at: created, model }, body);
    event("response.created", { response: { ...base, status: "in_progress", output: [], usage: null } });
    event("response.in_progress", { response: { ...base, status: "in_progress", output: [], usage: null } });
    const item = responseOutputItem(id, body, o);
    const itemId = String(item.id);
    /** After the first delta: true when a failure mode ended the stream. */
    const failed = async (): Promise<boolean> => {
      if (o.failure === "error_frame") {
        event("error", { code: "mock_error", message: "mock upstream failure mid-stream", param: null });
        res.end();
        return true;
      }
      if (o.failure === "cut_stream") {
        await new Promise<void>((resolve) => res.write(": cut\n\n", () => resolve()));
        res.destroy();
        return true;
      }
      if (o.failure === "stall") {
        await new Promise<void>((resolve) => {
          const limit = setTimeout(resolve, 60_000).unref();
          res.once("close", () => {
            clearTimeout(limit);
            resolve();
          });
        });
        res.destroy();
        return true;
      }
      return false;
    };
    if (item.type === "function_call") {
      event("response.output_item.added", { output_index: 0, item: { ...item, arguments: "", status: "in_progress" } });
      const half = Math.floor(TOOL_ARGUMENTS.length / 2);
      for (const [i, piece] of [TOOL_ARGUMENTS.slice(0, half), TOOL_ARGUMENTS.slice(half)].entries()) {
        if (i > 0) await sleep(o.frameIntervalMs);
        if (res.destroyed) return;
        event("response.function_call_arguments.delta", { item_id: itemId, output_index: 0, delta: piece });
        if (i === 0 && (await failed())) return;
      }
      event("response.function_call_arguments.done", { item_id: itemId, output_index: 0, name: item.name, arguments: TOOL_ARGUMENTS });
    } else {
      event("response.output_item.added", { output_index: 0, item: { ...item, status: "in_progress", content: [] } });
      const emptyPart = { type: "output_text", text: "", annotations: [], logprobs: [] };
      event("response.content_part.added", { item_id: itemId, output_index: 0, content_index: 0, part: emptyPart });
      const parts = words(o);
      for (let i = 0; i < parts.length; i++) {
        if (i > 0) await sleep(o.frameIntervalMs);
        if (res.destroyed) return;
        event("response.output_text.delta", { item_id: itemId, output_index: 0, content_index: 0, delta: parts[i], logprobs: [] });
        if (i === 0 && (await failed())) return;
      }
      const text = parts.join("");
      event("response.output_text.done", { item_id: itemId, output_index: 0, content_index: 0, text, logprobs: [] });
      event("response.content_part.done", { item_id: itemId, output_index: 0, content_index: 0, part: { ...emptyPart, text } });
    }
    event("response.output_item.done", { output_index: 0, item });
    event("response.completed", { response: responseBody(base, body, o) });
    res.end();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const raw = req.method === "POST" ? await readBody(req) : "";

    // Make one upstream model name answer `status` (an OpenAI error envelope) until set to 0:
    // a deployment that goes down and comes back (composite routing's health tests).
    if (path === "/__mock/status" && req.method === "POST") {
      const { model, status } = JSON.parse(raw || "{}") as { model?: string; status?: number };
      if (typeof model === "string") {
        if (status) forcedStatus.set(model, status);
        else forcedStatus.delete(model);
      }
      return sendJson(res, 200, Object.fromEntries(forcedStatus));
    }
    if (path === "/__mock/config" && req.method === "POST") {
      options = { ...options, ...(JSON.parse(raw || "{}") as Partial<MockOptions>) };
      return sendJson(res, 200, options);
    }
    if (path === "/__mock/requests") return sendJson(res, 200, requests);

    let body: Record<string, unknown> = {};
    try {
      body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    } catch {
      return sendJson(res, 400, { error: { message: "invalid JSON", type: "invalid_request_error", code: null, param: null } });
    }
    const record: RecordedRequest = { method: req.method ?? "", path, headers: req.headers, body, response: "" };
    requests.push(record);
    if (requests.length > MAX_RECORDED) requests.shift();
    const write = res.write.bind(res) as (chunk: string) => boolean;
    res.write = ((chunk: string) => {
      record.response += chunk;
      return write(chunk);
    }) as typeof res.write;
    const end = res.end.bind(res) as (chunk?: string) => ServerResponse;
    res.end = ((chunk?: string) => {
      if (typeof chunk === "string") record.response += chunk;
      return end(chunk);
    }) as typeof res.end;

    // A tokenizer service (the reference's protocol) serving one alias, counting whitespace-separated
    // words: /tokenizer/<alias>/v1/…; under /tokenizer-broken/<alias> its counts contradict themselves.
    const tokenizer = /^\/(tokenizer|tokenizer-broken)\/([^/]+)\/v1\/(models|tokenize)$/.exec(path);
    if (tokenizer) {
      const version = "mock-words@1";
      const alias = decodeURIComponent(tokenizer[2]!);
      if (tokenizer[3] === "models") return sendJson(res, 200, { models: [{ alias, hf_repo: "mock/words", tokenizer_version: version }] });
      const segments = Array.isArray(body.segments) ? body.segments.map((t) => String(t)) : [];
      const counts = segments.map((t) => t.split(/\s+/).filter(Boolean).length);
      let total = 0;
      const cumulative = counts.map((n) => (total += n));
      if (tokenizer[1] === "tokenizer-broken") cumulative.reverse();
      return sendJson(res, 200, { virtual_model: body.model, tokenizer_version: version, segment_counts: counts, cumulative, total });
    }

    // What OpenAI sends on every answer (the SDKs expose x-request-id as `_request_id`).
    res.setHeader("x-request-id", `req_mock${instance}${++seq}`);
    res.setHeader("openai-version", "2020-10-01");
    res.setHeader("openai-processing-ms", "1");
    res.setHeader("x-ratelimit-limit-requests", "10000");
    res.setHeader("x-ratelimit-remaining-requests", "9999");
    res.setHeader("x-ratelimit-reset-requests", "6ms");
    res.setHeader("x-mock-internal", "not for clients");
    const o = optionsFor(typeof body.model === "string" ? body.model : "", options, body);
    const forced = forcedStatus.get(typeof body.model === "string" ? body.model : "") ?? o.status;
    if (forced) {
      return sendJson(res, forced, { error: { message: `mock upstream answers ${forced}`, type: forced === 429 ? "rate_limit_error" : "server_error", code: `mock_${forced}`, param: null } });
    }
    if (o.failure === "disconnect") return void req.socket.destroy();
    if (o.failure === "hang") return;
    await sleep(o.ttfbMs);
    if (o.failure === "http_500") {
      return sendJson(res, 500, { error: { message: "mock upstream failure", type: "server_error", code: "mock_error", param: null } });
    }

    const model = typeof body.model === "string" ? body.model : "mock-model";
    if (o.notJson && body.stream !== true) {
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end("Hello, this is not JSON");
    }
    // A malformed field gets OpenAI's 400, as a real model server answers it (the gateway relays
    // what it does not own to the upstream to judge).
    if (path === "/v1/chat/completions" && "messages" in body && !Array.isArray(body.messages)) {
      return sendJson(res, 400, {
        error: { message: `Invalid type for 'messages': expected an array of objects, but got ${typeof body.messages} instead.`, type: "invalid_request_error", code: "invalid_type", param: "messages" },
      });
    }
    const created = Math.floor(Date.now() / 1000);
    switch (`${req.method} ${path}`) {
      case "GET /v1/models":
        return sendJson(res, 200, { object: "list", data: [{ id: "mock-model", object: "model", created, owned_by: "mock" }] });
      case "POST /v1/chat/completions":
        if (body.stream === true) return streamChoices(res, "chat", model, body, o);
        return sendJson(res, 200, {
          id: `chatcmpl-mock${++seq}`,
          object: "chat.completion",
          created,
          model,
          choices: [
            o.toolCall
              ? { index: 0, message: { role: "assistant", content: null, tool_calls: [mockToolCall(body, `call_mock${++seq}`)] }, finish_reason: "tool_calls", logprobs: null }
              : { index: 0, message: { role: "assistant", content: words(o).join("") }, finish_reason: o.finishReason, logprobs: null },
          ],
          usage: usage(o),
        });
      case "POST /v1/completions":
        if (body.stream === true) return streamChoices(res, "text", model, body, o);
        return sendJson(res, 200, {
          id: `cmpl-mock${++seq}`,
          object: "text_completion",
          created,
          model,
          choices: [{ index: 0, text: words(o).join(""), finish_reason: "stop", logprobs: null }],
          usage: usage(o),
        });
      case "POST /v1/embeddings": {
        const inputs = Array.isArray(body.input) ? body.input : [body.input];
        const base64 = body.encoding_format === "base64";
        return sendJson(res, 200, {
          object: "list",
          model,
          data: inputs.map((_, index) => ({ object: "embedding", index, embedding: base64 ? float32Base64(EMBEDDING) : EMBEDDING })),
          usage: o.usageFault === "nousage" ? undefined : { prompt_tokens: o.promptTokens, total_tokens: o.promptTokens },
        });
      }
      case "POST /v1/responses":
        if (body.stream === true) return streamResponse(res, model, body, o);
        return sendJson(res, 200, responseBody({ id: responseId(), object: "response", created_at: created, model }, body, o));
      default:
        return sendJson(res, 404, { error: { message: `mock upstream has no route ${req.method} ${path}`, type: "invalid_request_error", code: null, param: null } });
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: String(err), type: "server_error", code: null, param: null } });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    baseUrl: `${url}/v1`,
    requests,
    configure(partial) {
      options = { ...options, ...partial };
    },
    reset() {
      options = { ...DEFAULT_MOCK_OPTIONS, ...initial };
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
