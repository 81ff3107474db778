/**
 * The Responses API spoken to a model server that only knows Chat Completions: a Responses
 * request becomes a chat request, and the chat answer (JSON or SSE) becomes a Responses object or
 * Responses stream events. Pure: no I/O, explicit parameters, so it is unit-tested in Node.
 *
 * Only what chat can express is translated; everything else (built-in tools, conversation state
 * by `previous_response_id`, reasoning items) is refused with a 400 naming the field rather than
 * silently dropped.
 */
import { createParser, type EventSourceParser } from "eventsource-parser";
import * as z from "zod";
import { upstreamUsage, type TokenUsage } from "./usage-message.ts";
import { emptyObservation, type StreamObservation } from "./sse-pass-through.ts";

/** A request the adapter cannot express in chat; the gateway turns it into a 400 naming `param`. */
export class AdapterError extends Error {
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
    this.name = "AdapterError";
  }
}

type Json = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Request: Responses → Chat Completions
// ---------------------------------------------------------------------------------------------

const TextPart = z.object({ type: z.enum(["input_text", "output_text"]), text: z.string() });
const ImagePart = z.object({ type: z.literal("input_image"), image_url: z.string(), detail: z.string().optional() });
const ContentPart = z.union([TextPart, ImagePart]);

const MessageItem = z.object({
  type: z.literal("message").optional(),
  role: z.enum(["user", "assistant", "system", "developer"]),
  content: z.union([z.string(), z.array(ContentPart)]),
});
const FunctionCallItem = z.object({
  type: z.literal("function_call"),
  call_id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.string(),
});
const FunctionCallOutputItem = z.object({
  type: z.literal("function_call_output"),
  call_id: z.string().min(1),
  output: z.union([z.string(), z.array(TextPart)]),
});
const InputItem = z.union([MessageItem, FunctionCallItem, FunctionCallOutputItem]);

const FunctionTool = z.object({
  type: z.literal("function"),
  name: z.string().min(1),
  description: z.string().nullable().optional(),
  parameters: z.record(z.string(), z.unknown()).nullable().optional(),
  strict: z.boolean().nullable().optional(),
});

const ToolChoice = z.union([z.enum(["auto", "none", "required"]), z.object({ type: z.literal("function"), name: z.string().min(1) })]);

const TextFormat = z.union([
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    name: z.string(),
    schema: z.record(z.string(), z.unknown()),
    description: z.string().optional(),
    strict: z.boolean().nullable().optional(),
  }),
]);

const ResponsesRequest = z.object({
  model: z.string(),
  input: z.union([z.string(), z.array(InputItem)]),
  instructions: z.string().nullable().optional(),
  tools: z.array(FunctionTool).optional(),
  tool_choice: ToolChoice.optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  max_output_tokens: z.number().int().positive().nullable().optional(),
  temperature: z.number().nullable().optional(),
  top_p: z.number().nullable().optional(),
  stream: z.boolean().nullable().optional(),
  user: z.string().optional(),
  text: z.object({ format: TextFormat.optional() }).optional(),
});

function issueParam(issue: z.core.$ZodIssue | undefined): string {
  if (!issue || issue.path.length === 0) return "input";
  return issue.path.reduce<string>((acc, p, i) => (typeof p === "number" ? `${acc}[${p}]` : i === 0 ? String(p) : `${acc}.${String(p)}`), "");
}

function textOf(content: string | z.infer<typeof ContentPart>[] | z.infer<typeof TextPart>[], param: string): string {
  if (typeof content === "string") return content;
  return content
    .map((part, i) => {
      if (part.type === "input_image") throw new AdapterError("Images are only supported in user messages for this model.", `${param}[${i}]`);
      return part.text;
    })
    .join("");
}

/** `{cache_control}` when `value` carries a prompt-cache marker (validated later), else nothing. */
function cacheMarker(value: unknown): { cache_control?: unknown } {
  if (typeof value !== "object" || value === null || !("cache_control" in value)) return {};
  const marker = (value as { cache_control?: unknown }).cache_control;
  return marker === undefined ? {} : { cache_control: marker };
}

/**
 * The chat request for a Responses request, addressed to `upstreamModel`. Streaming requests
 * always ask for the usage chunk: it is what the gateway bills from.
 *
 * Example: `{model:"a", instructions:"be brief", input:"hi", max_output_tokens:50}` →
 * `{model:"up", messages:[{role:"system",content:"be brief"},{role:"user",content:"hi"}], max_tokens:50}`.
 */
export function chatRequestFromResponses(body: Json, upstreamModel: string): Json {
  for (const field of ["previous_response_id", "conversation", "reasoning", "background", "prompt"] as const) {
    if (body[field] !== undefined && body[field] !== null) {
      throw new AdapterError(`'${field}' is not supported for this model (it is served through a chat completions adapter).`, field);
    }
  }
  if (Array.isArray(body.tools)) {
    body.tools.forEach((tool: unknown, i) => {
      const type = (tool as { type?: unknown } | null)?.type;
      if (type !== "function") {
        throw new AdapterError(`Only function tools are supported for this model, not '${String(type)}'.`, `tools[${i}].type`);
      }
    });
  }
  if (Array.isArray(body.input)) {
    // Item by item, so the 400 names the item (a union's error would only name `input`).
    body.input.forEach((item: unknown, i) => {
      if (InputItem.safeParse(item).success) return;
      const type = (item as { type?: unknown } | null)?.type;
      const what = typeof type === "string" && !["message", "function_call", "function_call_output"].includes(type) ? `'${type}' items are not supported for this model` : "malformed input item";
      throw new AdapterError(`Invalid Responses request: ${what}.`, `input[${i}]`);
    });
  }
  const parsed = ResponsesRequest.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AdapterError(`Invalid Responses request: ${issue?.message ?? "malformed"}.`, issueParam(issue));
  }
  const req = parsed.data;

  // Prompt-cache markers (`cache_control`) are carried over onto the chat request's matching
  // blocks, messages, tools and top level, where the gateway validates, strips and bills them.
  const rawItems: unknown[] = Array.isArray(body.input) ? body.input : [];
  const rawParts = (i: number): unknown[] => {
    const content = (rawItems[i] as { content?: unknown } | undefined)?.content;
    return Array.isArray(content) ? content : [];
  };
  const messages: Json[] = [];
  if (req.instructions) messages.push({ role: "system", content: req.instructions });
  const items = typeof req.input === "string" ? [{ role: "user" as const, content: req.input }] : req.input;
  items.forEach((item, i) => {
    const param = `input[${i}]`;
    if (item.type === "function_call") {
      const call = { id: item.call_id, type: "function", function: { name: item.name, arguments: item.arguments } };
      // Consecutive calls (parallel tool calls) belong to one assistant turn.
      const last = messages[messages.length - 1];
      if (last?.role === "assistant") {
        last.tool_calls = [...((last.tool_calls as Json[] | undefined) ?? []), call];
      } else {
        messages.push({ role: "assistant", content: null, tool_calls: [call] });
      }
      return;
    }
    if (item.type === "function_call_output") {
      messages.push({ role: "tool", tool_call_id: item.call_id, content: textOf(item.output, `${param}.output`) });
      return;
    }
    // Chat servers commonly know no `developer` role; its meaning is the system prompt's.
    const role = item.role === "developer" ? "system" : item.role;
    const marked = rawParts(i).some((part) => cacheMarker(part).cache_control !== undefined);
    if (role === "user" && typeof item.content !== "string") {
      const parts = item.content.map((part, j) =>
        part.type === "input_image"
          ? { type: "image_url", image_url: { url: part.image_url, ...(part.detail ? { detail: part.detail } : {}) }, ...cacheMarker(rawParts(i)[j]) }
          : { type: "text", text: part.text, ...cacheMarker(rawParts(i)[j]) },
      );
      const content = !marked && parts.every((p) => p.type === "text") ? parts.map((p) => (p as { text: string }).text).join("") : parts;
      messages.push({ role, content, ...cacheMarker(rawItems[i]) });
      return;
    }
    if (marked && typeof item.content !== "string") {
      textOf(item.content, `${param}.content`); // the same 400 for images outside user messages
      const content = item.content.map((part, j) => ({ type: "text", text: (part as { text: string }).text, ...cacheMarker(rawParts(i)[j]) }));
      messages.push({ role, content, ...cacheMarker(rawItems[i]) });
      return;
    }
    messages.push({ role, content: textOf(item.content, `${param}.content`), ...cacheMarker(rawItems[i]) });
  });

  const chat: Json = { model: upstreamModel, messages, ...cacheMarker(body) };
  if (req.tools && req.tools.length > 0) {
    const rawTools: unknown[] = Array.isArray(body.tools) ? body.tools : [];
    chat.tools = req.tools.map((t, k) => ({
      type: "function",
      function: {
        name: t.name,
        ...(t.description != null ? { description: t.description } : {}),
        ...(t.parameters != null ? { parameters: t.parameters } : {}),
        ...(t.strict != null ? { strict: t.strict } : {}),
      },
      ...cacheMarker(rawTools[k]),
    }));
  }
  if (req.tool_choice !== undefined) {
    chat.tool_choice = typeof req.tool_choice === "string" ? req.tool_choice : { type: "function", function: { name: req.tool_choice.name } };
  }
  if (req.parallel_tool_calls != null) chat.parallel_tool_calls = req.parallel_tool_calls;
  if (req.max_output_tokens != null) chat.max_tokens = req.max_output_tokens;
  if (req.temperature != null) chat.temperature = req.temperature;
  if (req.top_p != null) chat.top_p = req.top_p;
  if (req.user !== undefined) chat.user = req.user;
  const format = req.text?.format;
  if (format?.type === "json_object") chat.response_format = { type: "json_object" };
  if (format?.type === "json_schema") {
    const { type: _type, ...schema } = format;
    chat.response_format = { type: "json_schema", json_schema: schema };
  }
  if (req.stream === true) {
    chat.stream = true;
    chat.stream_options = { include_usage: true };
  }
  return chat;
}

// ---------------------------------------------------------------------------------------------
// Response: Chat Completions → Responses
// ---------------------------------------------------------------------------------------------

/**
 * A chat `usage` object read the way the meter reads it (null when missing or invalid: then the
 * meter counts the tokens itself), so the client's usage and the billed usage agree.
 */
function chatUsage(raw: unknown): TokenUsage | null {
  return upstreamUsage(raw);
}

const ChatToolCall = z.object({ id: z.string(), function: z.object({ name: z.string(), arguments: z.string() }) });
const ChatCompletion = z.object({
  choices: z
    .array(
      z.object({
        message: z.object({ content: z.string().nullable().optional(), tool_calls: z.array(ChatToolCall).nullable().optional() }),
        finish_reason: z.string().nullable().optional(),
      }),
    )
    .min(1),
  usage: z.unknown().optional(),
});

/** Who the translated response is: its id, the alias the client used, and the client's request. */
export interface ResponseContext {
  id: string;
  alias: string;
  /** Unix seconds. */
  createdAt: number;
  request: Json;
  /** The stored response this one continues (the request itself was expanded without it). */
  previousResponseId?: string | null;
}

/** The Responses usage object for the chat usage (the same counts, renamed). */
export function responsesUsage(usage: TokenUsage): Json {
  return {
    input_tokens: usage.prompt_tokens,
    input_tokens_details: { cached_tokens: usage.cached_tokens },
    output_tokens: usage.completion_tokens,
    output_tokens_details: { reasoning_tokens: usage.reasoning_tokens },
    total_tokens: usage.total_tokens,
  };
}

/** `completed`, or `incomplete` with its reason when the model was stopped early. */
function statusFor(finishReason: string | null | undefined): { status: "completed" | "incomplete"; incomplete_details: Json | null } {
  if (finishReason === "length") return { status: "incomplete", incomplete_details: { reason: "max_output_tokens" } };
  if (finishReason === "content_filter") return { status: "incomplete", incomplete_details: { reason: "content_filter" } };
  return { status: "completed", incomplete_details: null };
}

/** The response object's fields that echo the request, as the Responses API returns them. */
function responseShell(ctx: ResponseContext, status: string): Json {
  const r = ctx.request;
  return {
    id: ctx.id,
    object: "response",
    created_at: ctx.createdAt,
    status,
    error: null,
    incomplete_details: null,
    instructions: r.instructions ?? null,
    max_output_tokens: r.max_output_tokens ?? null,
    model: ctx.alias,
    output: [],
    parallel_tool_calls: r.parallel_tool_calls ?? true,
    previous_response_id: ctx.previousResponseId ?? null,
    temperature: r.temperature ?? null,
    text: r.text ?? { format: { type: "text" } },
    tool_choice: r.tool_choice ?? "auto",
    tools: r.tools ?? [],
    top_p: r.top_p ?? null,
    metadata: r.metadata ?? {},
    usage: null,
  };
}

function itemId(prefix: string, responseId: string, index: number): string {
  return `${prefix}_${responseId.replace(/^resp_/, "")}_${index}`;
}

function messageItem(id: string, text: string, status: string): Json {
  return { type: "message", id, status, role: "assistant", content: [{ type: "output_text", text, annotations: [] }] };
}

/**
 * The Responses object for a chat completion, or null when `chat` is not one (the caller answers
 * 502). The caller meters from the chat `usage` itself; this only renames it.
 */
export function responseFromChat(chat: unknown, ctx: ResponseContext): Json | null {
  const parsed = ChatCompletion.safeParse(chat);
  if (!parsed.success) return null;
  const choice = parsed.data.choices[0]!;
  const { status, incomplete_details } = statusFor(choice.finish_reason);
  const output: Json[] = [];
  const text = choice.message.content ?? "";
  const calls = choice.message.tool_calls ?? [];
  if (text !== "" || calls.length === 0) output.push(messageItem(itemId("msg", ctx.id, 0), text, status));
  for (const call of calls) {
    output.push({ type: "function_call", id: itemId("fc", ctx.id, output.length), call_id: call.id, name: call.function.name, arguments: call.function.arguments, status: "completed" });
  }
  const usage = chatUsage(parsed.data.usage);
  return { ...responseShell(ctx, status), incomplete_details, output, usage: usage ? responsesUsage(usage) : null };
}

// ---------------------------------------------------------------------------------------------
// Streaming: Chat Completions SSE → Responses SSE
// ---------------------------------------------------------------------------------------------

const ChatChunk = z.object({
  choices: z
    .array(
      z.object({
        index: z.number().optional(),
        delta: z
          .object({
            content: z.string().nullable().optional(),
            tool_calls: z
              .array(
                z.object({
                  index: z.number().int().nonnegative(),
                  id: z.string().nullable().optional(),
                  function: z.object({ name: z.string().nullable().optional(), arguments: z.string().nullable().optional() }).nullable().optional(),
                }),
              )
              .nullable()
              .optional(),
          })
          .nullable()
          .optional(),
        finish_reason: z.string().nullable().optional(),
      }),
    )
    .nullable()
    .optional(),
  usage: z.unknown().optional(),
});
const ErrorFrame = z.object({
  error: z.object({ message: z.string().optional(), code: z.union([z.string(), z.number()]).nullable().optional(), param: z.string().nullable().optional() }).loose(),
});

interface OpenItem {
  outputIndex: number;
  item: Json;
  kind: "message" | "function_call";
  /** The accumulated text or arguments. */
  text: string;
}


const encoder = new TextEncoder();

/**
 * Turns a chat completions SSE byte stream into Responses API events. `start()` gives the
 * opening events; `push()` the events for each upstream chunk (the upstream's own framing does not
 * matter: bytes may be split anywhere); `finish()` closes the open items and sends the terminal
 * event — only for a stream that really ended (a finish reason or `[DONE]`, and no error frame),
 * so a cut upstream never becomes an invented `response.completed`.
 *
 * Every event carries a `sequence_number`, counting from 0.
 */
export class ChatToResponsesStream {
  /** What the upstream's chat stream said (its usage, its last finish reason), for metering and storage. */
  readonly observation: StreamObservation = emptyObservation();
  private readonly parser: EventSourceParser;
  private readonly decoder = new TextDecoder();
  private sequence = 0;
  private out: string[] = [];
  private readonly output: Json[] = [];
  private open: OpenItem | null = null;
  /** Chat tool-call index → the function_call item it streams into. */
  private readonly calls = new Map<number, OpenItem>();
  private finished = false;

  constructor(private readonly ctx: ResponseContext) {
    this.parser = createParser({ onEvent: (e) => this.onData(e.data) });
  }

  /** `response.created` and `response.in_progress`. */
  start(): Uint8Array {
    const shell = responseShell(this.ctx, "in_progress");
    this.emit("response.created", { response: shell });
    this.emit("response.in_progress", { response: shell });
    return this.flush();
  }

  push(bytes: Uint8Array): Uint8Array {
    this.parser.feed(this.decoder.decode(bytes, { stream: true }));
    return this.flush();
  }

  /**
   * The upstream ended. `clean` = its body ended normally (not a read error or timeout). Sends
   * the terminal events when the stream is complete, else nothing more.
   */
  finish(clean: boolean): Uint8Array {
    if (this.finished) return new Uint8Array();
    this.finished = true;
    if (clean) {
      this.parser.feed(this.decoder.decode());
      // An unterminated last event is dispatched by ending its line, as the SSE spec's EOF rule does not.
      this.parser.feed("\n\n");
    }
    const seen = this.observation;
    if (clean && !seen.errorFrame && (seen.finishReason !== null || seen.sawDone)) {
      const { status, incomplete_details } = statusFor(seen.finishReason);
      this.closeOpen(status);
      const response: Json = { ...responseShell(this.ctx, status), incomplete_details, output: this.output, usage: seen.usage ? responsesUsage(seen.usage) : null };
      seen.finalResponse = response;
      this.emit(status === "completed" ? "response.completed" : "response.incomplete", { response });
    }
    return this.flush();
  }

  private onData(data: string): void {
    if (this.finished && this.observation.finalResponse) return;
    if (data === "[DONE]") {
      this.observation.sawDone = true;
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      return; // not JSON: nothing a Responses client could use
    }
    const error = ErrorFrame.safeParse(json);
    if (error.success) {
      if (this.observation.errorFrame) return;
      this.observation.errorFrame = error.data.error;
      const e = error.data.error;
      this.emit("error", { code: e.code == null ? null : String(e.code), message: e.message ?? "The model server reported an error.", param: e.param ?? null });
      return;
    }
    const chunk = ChatChunk.safeParse(json);
    if (!chunk.success || this.observation.errorFrame) return;
    const served = (json as { model?: unknown }).model;
    if (typeof served === "string") this.observation.servedModel ??= served;
    const usage = chatUsage(chunk.data.usage);
    if (usage) this.observation.usage = usage;
    for (const choice of chunk.data.choices ?? []) {
      if ((choice.index ?? 0) !== 0) continue; // n > 1 has no Responses equivalent; the first choice is the answer
      const delta = choice.delta;
      if (delta?.content) this.textDelta(delta.content);
      for (const call of delta?.tool_calls ?? []) this.callDelta(call.index, call.id ?? null, call.function?.name ?? null, call.function?.arguments ?? "");
      if (choice.finish_reason) this.observation.finishReason = choice.finish_reason;
    }
  }

  private textDelta(delta: string): void {
    if (this.open?.kind !== "message") {
      this.closeOpen("completed");
      const outputIndex = this.output.length;
      const id = itemId("msg", this.ctx.id, outputIndex);
      this.open = { outputIndex, kind: "message", text: "", item: { type: "message", id, status: "in_progress", role: "assistant", content: [] } };
      this.output.push(this.open.item);
      this.emit("response.output_item.added", { output_index: outputIndex, item: this.open.item });
      this.emit("response.content_part.added", { item_id: id, output_index: outputIndex, content_index: 0, part: { type: "output_text", text: "", annotations: [] } });
    }
    this.open.text += delta;
    this.emit("response.output_text.delta", { item_id: this.open.item.id, output_index: this.open.outputIndex, content_index: 0, delta, logprobs: [] });
  }

  private callDelta(index: number, callId: string | null, name: string | null, args: string): void {
    let call = this.calls.get(index);
    if (!call) {
      this.closeOpen("completed");
      const outputIndex = this.output.length;
      const item: Json = { type: "function_call", id: itemId("fc", this.ctx.id, outputIndex), call_id: callId ?? `call_${outputIndex}`, name: name ?? "", arguments: "", status: "in_progress" };
      call = { outputIndex, kind: "function_call", text: "", item };
      this.calls.set(index, call);
      this.open = call;
      this.output.push(item);
      this.emit("response.output_item.added", { output_index: outputIndex, item });
    }
    if (args === "") return;
    call.text += args;
    this.emit("response.function_call_arguments.delta", { item_id: call.item.id, output_index: call.outputIndex, delta: args });
  }

  /** Sends the done events of the item in progress and fixes its final form in `output`. */
  private closeOpen(status: string): void {
    const open = this.open;
    if (!open) return;
    this.open = null;
    const { outputIndex, item } = open;
    let done: Json;
    if (open.kind === "message") {
      const part = { type: "output_text", text: open.text, annotations: [] };
      this.emit("response.output_text.done", { item_id: item.id, output_index: outputIndex, content_index: 0, text: open.text, logprobs: [] });
      this.emit("response.content_part.done", { item_id: item.id, output_index: outputIndex, content_index: 0, part });
      done = messageItem(item.id as string, open.text, status);
    } else {
      this.emit("response.function_call_arguments.done", { item_id: item.id, output_index: outputIndex, name: item.name, arguments: open.text });
      done = { ...item, arguments: open.text, status: "completed" };
    }
    this.output[outputIndex] = done;
    this.emit("response.output_item.done", { output_index: outputIndex, item: done });
  }

  private emit(type: string, fields: Json): void {
    this.out.push(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: this.sequence++, ...fields })}\n\n`);
  }

  private flush(): Uint8Array {
    if (this.out.length === 0) return new Uint8Array();
    const bytes = encoder.encode(this.out.join(""));
    this.out = [];
    return bytes;
  }
}
