/**
 * The metering side of a proxied Server-Sent Events stream (OpenAI chat/completions/responses
 * streams). Bytes pass through unchanged; the one exception is the terminal usage-only chunk
 * (`"choices": []` with a `usage` object), which may be dropped (the client did not ask for usage)
 * or rewritten (cache statistics injected).
 *
 * How: a byte-level framer cuts the stream into complete SSE blocks — an event and the blank line
 * that ends it (WHATWG HTML §9.2: lines end in CRLF, LF or CR). A block is only released once its
 * blank line has arrived, which delays nothing a client could act on: an SSE client dispatches an
 * event only at that blank line. Blocks that might carry usage, a finish reason or an error are
 * parsed with `eventsource-parser`; every other block is forwarded without being decoded twice.
 */
import { createParser, type EventSourceMessage } from "eventsource-parser";
import type { StreamEditor } from "./sse-edit.ts";
import { upstreamUsage, type TokenUsage } from "./usage-message.ts";

const LF = 0x0a;
const CR = 0x0d;

/** Cuts a byte stream into complete SSE blocks, keeping the bytes exactly as received. */
export class SseFramer {
  private pending: Uint8Array[] = [];
  private atLineStart = true;
  private afterCR = false;
  /** The last block ended with a CR that was the last byte of its chunk: its LF may follow. */
  private danglingCR = false;

  /**
   * Calls `onBlock` for each block completed by `chunk` and keeps the incomplete rest. A block's
   * CRLF can be split across chunks after the block was released; that LF is reported on its own
   * with `continuation` set, so it gets the same fate as the block it ends.
   */
  push(chunk: Uint8Array, onBlock: (block: Uint8Array, continuation: boolean) => void): void {
    let blockStart = 0;
    if (this.danglingCR && chunk.length > 0) {
      this.danglingCR = false;
      if (chunk[0] === LF) {
        this.afterCR = false;
        onBlock(chunk.subarray(0, 1), true);
        blockStart = 1;
      }
    }
    if (!this.afterCR && chunk.indexOf(CR, blockStart) === -1) {
      // No CR in the chunk (the usual case): lines end in LF only, and the runtime's native
      // search jumps from one LF to the next instead of a JavaScript test of every byte.
      let lineStart = this.atLineStart ? blockStart : -1;
      for (let i = chunk.indexOf(LF, blockStart); i !== -1; i = chunk.indexOf(LF, i + 1)) {
        if (i === lineStart) {
          onBlock(this.take(chunk, blockStart, i + 1), false);
          blockStart = i + 1;
        }
        lineStart = i + 1;
      }
      this.atLineStart = lineStart === chunk.length;
      if (blockStart < chunk.length) this.pending.push(chunk.subarray(blockStart));
      return;
    }
    for (let i = blockStart; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b !== LF && b !== CR) {
        this.atLineStart = false;
        this.afterCR = false;
        continue;
      }
      if (b === LF && this.afterCR) {
        // The LF of a CRLF whose CR was already counted as the line end.
        this.afterCR = false;
        continue;
      }
      this.afterCR = b === CR;
      if (!this.atLineStart) {
        this.atLineStart = true;
        continue;
      }
      // An empty line ends the block. Keep a CRLF's LF with it when it is in this chunk.
      let end = i + 1;
      if (b === CR && end < chunk.length && chunk[end] === LF) {
        end++;
        i++;
        this.afterCR = false;
      }
      this.danglingCR = b === CR && end === chunk.length;
      onBlock(this.take(chunk, blockStart, end), false);
      blockStart = end;
    }
    if (blockStart < chunk.length) this.pending.push(chunk.subarray(blockStart));
  }

  /** Bytes of an unfinished block at the end of the stream (forwarded as they are). */
  rest(): Uint8Array | null {
    if (this.pending.length === 0) return null;
    const out = concat(this.pending);
    this.pending = [];
    return out;
  }

  private take(chunk: Uint8Array, start: number, end: number): Uint8Array {
    if (this.pending.length === 0) return chunk.subarray(start, end);
    this.pending.push(chunk.subarray(start, end));
    const out = concat(this.pending);
    this.pending = [];
    return out;
  }
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Parses one complete block: its data events (usually one), per the SSE spec. */
export function parseBlock(text: string): EventSourceMessage[] {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e) });
  parser.feed(text);
  // A block may end in a lone CR whose LF (if any) is still to come; the parser waits for it.
  // The block is complete by construction, so end the line for it.
  parser.feed("\n");
  return events;
}

/**
 * What a relayed stream told the meter, whichever way it was relayed (passed through by SsePassThrough,
 * or translated chat → Responses by shared/responses-adapter.ts). The meter alone decides what it
 * means for billing (gateway meter.ts, `streamVerdict`).
 */
export interface StreamObservation {
  /** The upstream's usage report; null when none arrived. */
  usage: TokenUsage | null;
  /** The last finish reason (chat), or the response's status (Responses API). */
  finishReason: string | null;
  sawDone: boolean;
  /** The first error frame's JSON (an upstream failure reported in-stream). */
  errorFrame: unknown;
  /** Blocks that arrived after `[DONE]` (forwarded; counted for diagnosis). */
  blocksAfterDone: number;
  /** Responses API: the response object of the terminal `response.completed` / `response.incomplete` event. */
  finalResponse: Record<string, unknown> | null;
  /** The upstream's own name for the model, as the stream reported it (null: not seen). */
  servedModel: string | null;
}

/** An observation of a stream nothing has been seen of yet. */
export function emptyObservation(): StreamObservation {
  return { usage: null, finishReason: null, sawDone: false, errorFrame: null, blocksAfterDone: 0, finalResponse: null, servedModel: null };
}

/** What to do with a block. */
export type BlockAction =
  | { kind: "forward" }
  | { kind: "drop" }
  /** The terminal usage chunk: forward (possibly rewritten by the caller) or drop. */
  | { kind: "usage"; chunk: Record<string, unknown>; drop: boolean };

export interface SsePassThroughOptions {
  /** Remove the usage-only chunk (the client did not ask for `stream_options.include_usage`). */
  dropUsageChunk: boolean;
  /** Byte edits on the blocks the client receives (model alias, `"usage":null`): shared/sse-edit.ts. */
  editor?: StreamEditor;
}

// Cheap prefilters: a block that contains none of these has nothing for the meter.
const INTERESTING = /"usage"\s*:\s*\{|"finish_reason"\s*:\s*"|"error"|"status"\s*:\s*"(completed|incomplete|failed)"|\[DONE\]/;

const decoder = new TextDecoder();

/**
 * Decides, block by block, what the client receives, and records usage, finish reason, `[DONE]`
 * and error frames. Pure: the caller moves the bytes.
 */
export class SseMeter {
  readonly observation: StreamObservation = emptyObservation();

  constructor(private readonly options: SsePassThroughOptions) {}

  /** The last inspected block, decoded (the editor's native string search reuses it). */
  lastText = "";

  inspect(block: Uint8Array): BlockAction {
    const text = decoder.decode(block);
    this.lastText = text;
    if (this.observation.sawDone) this.observation.blocksAfterDone++;
    if (!INTERESTING.test(text)) return { kind: "forward" };
    let action: BlockAction = { kind: "forward" };
    for (const event of parseBlock(text)) {
      if (event.data === "[DONE]") {
        this.observation.sawDone = true;
        continue;
      }
      const json = parseJsonObject(event.data);
      if (!json) continue;
      const found = this.observe(json, event.event);
      if (found) action = found;
    }
    return action;
  }

  private observe(json: Record<string, unknown>, eventType: string | undefined): BlockAction | null {
    if ("error" in json && json.error) {
      this.observation.errorFrame ??= json.error;
      return null;
    }
    if (eventType === "error" || json.type === "error" || json.type === "response.failed") {
      this.observation.errorFrame ??= json;
    }
    // Chat completions and completions: choices[].finish_reason.
    if (Array.isArray(json.choices)) {
      for (const choice of json.choices as unknown[]) {
        const reason = (choice as { finish_reason?: unknown } | null)?.finish_reason;
        if (typeof reason === "string") this.observation.finishReason = reason;
      }
    }
    // Responses API: the final response object carries usage and status.
    const response = json.response as Record<string, unknown> | undefined;
    if (typeof json.type === "string" && json.type.startsWith("response.") && response && typeof response === "object") {
      if (typeof response.status === "string" && response.status !== "in_progress") this.observation.finishReason = response.status;
      if (response.usage && typeof response.usage === "object") this.observation.usage = upstreamUsage(response.usage) ?? this.observation.usage;
      if (json.type === "response.completed" || json.type === "response.incomplete") this.observation.finalResponse = response;
      return null;
    }
    if (json.usage && typeof json.usage === "object") {
      // An invalid report (negative or string counts, absurd figures) counts as none: the meter counts.
      this.observation.usage = upstreamUsage(json.usage) ?? this.observation.usage;
      if (Array.isArray(json.choices) && json.choices.length === 0) {
        return { kind: "usage", chunk: json, drop: this.options.dropUsageChunk };
      }
    }
    return null;
  }
}

function parseJsonObject(data: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(data);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Serialises a rewritten usage chunk as one SSE block, with the block's own line ending. */
export function usageBlock(chunk: Record<string, unknown>, original: Uint8Array): Uint8Array {
  const text = decoder.decode(original);
  const eol = text.endsWith("\r\n\r\n") ? "\r\n" : text.endsWith("\r\r") ? "\r" : "\n";
  return new TextEncoder().encode(`data: ${JSON.stringify(chunk)}${eol}${eol}`);
}

/**
 * A piece of the client's stream: bytes, or the usage chunk — always surfaced so the caller can
 * read it (cache statistics), and forwarded (possibly rewritten) unless `drop` is set.
 */
export type PassThroughOutput = Uint8Array | { usage: Record<string, unknown>; original: Uint8Array; drop: boolean };

/**
 * Framer + meter: push upstream chunks in, get what the client should receive out. Forwarded
 * blocks that are adjacent in one upstream chunk come back as one slice of it (no copy).
 */
export class SsePassThrough {
  private readonly framer = new SseFramer();
  readonly meter: SseMeter;

  private readonly editor: StreamEditor | undefined;

  constructor(options: SsePassThroughOptions) {
    this.meter = new SseMeter(options);
    this.editor = options.editor;
  }

  get observation(): StreamObservation {
    return this.meter.observation;
  }

  private lastForwarded = true;

  push(chunk: Uint8Array): PassThroughOutput[] {
    const out: PassThroughOutput[] = [];
    this.framer.push(chunk, (block, continuation) => {
      if (!continuation) this.route(block, out);
      else if (this.lastForwarded) out.push(block);
    });
    return out;
  }

  /** End of the upstream: an unterminated last block is inspected and forwarded (edited, if at all). */
  end(): PassThroughOutput[] {
    const rest = this.framer.rest();
    if (!rest) return [];
    this.meter.inspect(rest);
    return [this.edit(rest)];
  }

  private edit(block: Uint8Array): Uint8Array {
    if (!this.editor) return block;
    const edited = this.editor.edit(block, this.meter.lastText);
    this.meter.observation.servedModel ??= this.editor.servedModel;
    return edited;
  }

  private route(raw: Uint8Array, out: PassThroughOutput[]): void {
    const action = this.meter.inspect(raw);
    this.lastForwarded = !(action.kind === "drop" || (action.kind === "usage" && action.drop));
    if (action.kind === "usage") {
      const block = this.edit(raw);
      out.push({ usage: this.editor ? this.editor.renameIn(action.chunk) : action.chunk, original: block, drop: action.drop });
      return;
    }
    if (!this.lastForwarded) return;
    const block = this.edit(raw);
    const last = out[out.length - 1];
    if (last instanceof Uint8Array && last.buffer === block.buffer && last.byteOffset + last.length === block.byteOffset) {
      out[out.length - 1] = new Uint8Array(block.buffer, last.byteOffset, last.length + block.length);
    } else {
      out.push(block);
    }
  }
}
