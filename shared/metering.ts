/**
 * What metered traffic means for billing, decided in one place: the gateway's Meter
 * (workers/gateway/src/meter.ts) applies these rules; the relays only report what they saw.
 */
import type { StreamObservation } from "./sse-pass-through.ts";
import type { TokenUsage } from "./usage-message.ts";

/** How a relayed stream ended, as its relay saw it (see stream.ts and responses-via-chat.ts). */
export interface StreamEnd {
  observation: StreamObservation;
  /** The upstream broke off: a read error, or silence past the idle timeout. */
  cut: boolean;
  /** The client went away before the stream ended. */
  clientGone: boolean;
  /** When the first upstream byte arrived (epoch ms); null when none did. */
  firstByteAt: number | null;
  /** What the upstream sent, for counting the completion when it reported no usage. */
  transcript: Transcript;
}

/** What a finished stream means for billing: decided here and nowhere else. */
export interface StreamVerdict {
  usage: TokenUsage | null;
  finishReason: string | null;
  responseType: "stream" | "stream_error";
  /** The response ended early (cut, error frame, no end marker, or the client left before usage). */
  truncated: boolean;
  /** A complete, error-free stream with usage, fully delivered: safe to commit side effects for. */
  complete: boolean;
}

/**
 * The one rule for streams. A stream really ended when the upstream said so — `[DONE]`, its usage
 * report, or a terminal response object — without breaking off or reporting an error; a client
 * that left before the usage arrived saw a truncated answer too.
 */
export function streamVerdict(end: StreamEnd): StreamVerdict {
  const seen = end.observation;
  const ended = seen.sawDone || seen.usage !== null || seen.finalResponse !== null;
  const truncated = end.cut || !!seen.errorFrame || !ended || (end.clientGone && seen.usage === null);
  return {
    usage: seen.usage,
    finishReason: seen.finishReason,
    responseType: seen.errorFrame ? "stream_error" : "stream",
    truncated,
    complete: !truncated && seen.usage !== null && !end.clientGone,
  };
}

/** Upstream bytes kept per stream for counting its completion when the upstream reports no usage. */
const TRANSCRIPT_MAX_BYTES = 8 * 1024 * 1024;
/** Tokens assumed per byte past that (about four bytes of English text per token). */
const BYTES_PER_TOKEN = 4;

/**
 * The upstream bytes of a stream, kept by reference (no copy, no decoding on the hot path) so
 * that, only if the upstream never reports its usage, the relayed completion can be counted.
 * Past TRANSCRIPT_MAX_BYTES only the byte count grows.
 */
export class Transcript {
  private readonly chunks: Uint8Array[] = [];
  private kept = 0;
  /** Bytes beyond the kept ones. */
  overflowBytes = 0;

  push(chunk: Uint8Array): void {
    if (this.kept + chunk.length <= TRANSCRIPT_MAX_BYTES) {
      this.chunks.push(chunk);
      this.kept += chunk.length;
    } else {
      this.overflowBytes += chunk.length;
    }
  }

  /** The completion text the stream carried (chat, completions or Responses SSE). */
  completionText(): string {
    const decoder = new TextDecoder();
    let text = "";
    for (const c of this.chunks) text += decoder.decode(c, { stream: true });
    text += decoder.decode();
    return completionTextOfSse(text);
  }

  /** Tokens to add for bytes that were not kept. */
  overflowTokens(): number {
    return Math.ceil(this.overflowBytes / BYTES_PER_TOKEN);
  }
}

/** The generated text in an SSE body: every delta's content, tool-call arguments and Responses text deltas. */
export function completionTextOfSse(sse: string): string {
  const parts: string[] = [];
  for (const line of sse.split(/\r\n|\r|\n/)) {
    if (!line.startsWith("data:")) continue;
    const data = line.slice(line.startsWith("data: ") ? 6 : 5);
    if (data === "[DONE]") continue;
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      continue;
    }
    collectChunkText(json, parts);
  }
  return parts.join("");
}

function collectChunkText(json: unknown, parts: string[]): void {
  if (typeof json !== "object" || json === null) return;
  const o = json as Record<string, unknown>;
  if (typeof o.type === "string") {
    // Responses API events: the text and argument deltas.
    if ((o.type === "response.output_text.delta" || o.type === "response.function_call_arguments.delta" || o.type === "response.reasoning_text.delta") && typeof o.delta === "string") parts.push(o.delta);
    return;
  }
  if (!Array.isArray(o.choices)) return;
  for (const choice of o.choices as unknown[]) {
    if (typeof choice !== "object" || choice === null) continue;
    const c = choice as Record<string, unknown>;
    if (typeof c.text === "string") parts.push(c.text);
    collectMessageText(c.delta, parts);
  }
}

function collectMessageText(message: unknown, parts: string[]): void {
  if (typeof message !== "object" || message === null) return;
  const m = message as Record<string, unknown>;
  if (typeof m.content === "string") parts.push(m.content);
  if (typeof m.reasoning_content === "string") parts.push(m.reasoning_content);
  if (typeof m.refusal === "string") parts.push(m.refusal);
  if (Array.isArray(m.tool_calls)) {
    for (const call of m.tool_calls as unknown[]) {
      const fn = (call as { function?: { name?: unknown; arguments?: unknown } } | null)?.function;
      if (typeof fn?.name === "string") parts.push(fn.name);
      if (typeof fn?.arguments === "string") parts.push(fn.arguments);
    }
  }
}

/**
 * The generated text of a whole (non-streamed) answer: chat messages, completions texts, Responses
 * output. `raw` is the body as received: when it is not a JSON object it is all counted, since it
 * is what the client was served.
 */
export function completionTextOfJson(payload: Record<string, unknown> | null, raw: string): string {
  if (!payload) return raw;
  const parts: string[] = [];
  if (Array.isArray(payload.choices)) {
    for (const choice of payload.choices as unknown[]) {
      if (typeof choice !== "object" || choice === null) continue;
      const c = choice as Record<string, unknown>;
      if (typeof c.text === "string") parts.push(c.text);
      collectMessageText(c.message, parts);
    }
  }
  if (Array.isArray(payload.output)) {
    for (const item of payload.output as unknown[]) {
      const i = item as { content?: unknown; arguments?: unknown; name?: unknown } | null;
      if (typeof i?.arguments === "string") parts.push(i.arguments);
      if (typeof i?.name === "string") parts.push(i.name);
      if (Array.isArray(i?.content)) {
        for (const part of i.content as unknown[]) {
          const text = (part as { text?: unknown } | null)?.text;
          if (typeof text === "string") parts.push(text);
        }
      }
    }
  }
  return parts.join("");
}

/**
 * The prompt as text segments for counting its tokens when the upstream reports none: each
 * message's text parts (other parts and tool definitions as canonical JSON), a completions
 * `prompt`, an embeddings or Responses `input`, and `instructions`.
 */
export function promptSegments(body: Record<string, unknown>): string[] {
  const out: string[] = [];
  const add = (v: unknown) => {
    if (v === undefined || v === null) return;
    if (typeof v === "string") out.push(v);
    else if (Array.isArray(v) && v.every((x) => typeof x === "string")) out.push(...(v as string[]));
    else out.push(JSON.stringify(v));
  };
  if (typeof body.instructions === "string") out.push(body.instructions);
  if (Array.isArray(body.messages)) {
    for (const message of body.messages as unknown[]) {
      const m = message as { content?: unknown } | null;
      const content = m?.content;
      if (typeof content === "string") out.push(content);
      else if (Array.isArray(content)) {
        for (const part of content as unknown[]) {
          const p = part as { type?: unknown; text?: unknown } | null;
          if (p?.type === "text" && typeof p.text === "string") out.push(p.text);
          else add(part);
        }
      } else if (m && typeof m === "object") {
        const { content: _content, ...rest } = m as Record<string, unknown>;
        add(rest);
      }
    }
  }
  add(body.prompt);
  add(body.input);
  if (Array.isArray(body.tools) && body.tools.length > 0) add(body.tools);
  return out.filter((s) => s.length > 0);
}
