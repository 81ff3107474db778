/**
 * Byte edits on relayed SSE blocks, so a stream says what the JSON answer says without any event
 * being re-serialised: the upstream's model name becomes the alias the client asked for (in every
 * `"model":"…"` carrying it: chat chunks, `response.*` events and their response objects), the
 * `"usage":null` the upstream adds to every chunk only because Tollgate asked for usage is removed
 * again, and a continued conversation's `"previous_response_id":null` names the response it
 * continues (the upstream was sent the expanded conversation instead).
 *
 * The upstream's name is the first `"model":"…"` value of the stream (a chunk's or the
 * `response.created` object's top-level field, which precede any client-controlled text); later
 * values are replaced only when they equal it. Inside JSON strings quotes are escaped, so the
 * raw byte patterns below only ever match keys. A block with nothing to edit is returned as is.
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const SPACE = 0x20;
const COMMA = 0x2c;

const MODEL_PATTERN = '"model":';
const USAGE_NULL_PATTERN = '"usage":null';
const PREVIOUS_NULL_PATTERN = '"previous_response_id":null';
const MODEL_KEY = encoder.encode(MODEL_PATTERN);
const USAGE_NULL = encoder.encode(USAGE_NULL_PATTERN);
const PREVIOUS_NULL = encoder.encode(PREVIOUS_NULL_PATTERN);
const EMPTY = new Uint8Array();
const NULL_LENGTH = 4;

export interface StreamEditOptions {
  /** The alias the client asked for: replaces the upstream's name for the model. */
  alias: string;
  /** Remove `"usage":null` members (the client did not ask for `stream_options.include_usage`). */
  dropNullUsage: boolean;
  /** Written into `"previous_response_id":null` (a continued conversation); null = leave it. */
  previousResponseId: string | null;
}

interface Splice {
  start: number;
  end: number;
  insert: Uint8Array;
}

/** Index of `needle` in `haystack` at or after `from`; -1 when absent. */
export function indexOfBytes(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0]!;
  const last = haystack.length - needle.length;
  for (let i = haystack.indexOf(first, from); i !== -1 && i <= last; i = haystack.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

/** Index of the quote closing the JSON string whose opening quote is at `open`; -1 if unterminated. */
function stringEnd(bytes: Uint8Array, open: number): number {
  for (let i = open + 1; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === BACKSLASH) i++;
    else if (b === QUOTE) return i;
  }
  return -1;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class StreamEditor {
  /** The upstream's name for the model, as the stream first reported it (null until seen). */
  servedModel: string | null = null;
  private served: Uint8Array | null = null;
  private readonly aliasValue: Uint8Array;
  private readonly previousValue: Uint8Array | null;

  constructor(private readonly options: StreamEditOptions) {
    this.aliasValue = encoder.encode(JSON.stringify(options.alias));
    this.previousValue = options.previousResponseId === null ? null : encoder.encode(JSON.stringify(options.previousResponseId));
  }

  /**
   * The block as the client should receive it (the same array when nothing changes). `text` is the
   * block already decoded (SseMeter decodes every block): when it is pure ASCII its string indices
   * are byte indices, and the runtime's native string search finds the patterns.
   */
  edit(block: Uint8Array, text?: string): Uint8Array {
    const find: (needle: Uint8Array, pattern: string, from?: number) => number =
      text !== undefined && text.length === block.length ? (_needle, pattern, from) => text.indexOf(pattern, from) : (needle, _pattern, from) => indexOfBytes(block, needle, from);
    let splices: Splice[] | null = null;
    for (let at = find(MODEL_KEY, MODEL_PATTERN); at !== -1; at = find(MODEL_KEY, MODEL_PATTERN, at + 1)) {
      let open = at + MODEL_KEY.length;
      while (block[open] === SPACE) open++;
      if (block[open] !== QUOTE) continue;
      const close = stringEnd(block, open);
      if (close === -1) break;
      const value = block.subarray(open, close + 1);
      if (this.served === null) this.learn(value);
      if (this.served !== null && sameBytes(value, this.served) && !sameBytes(value, this.aliasValue)) {
        (splices ??= []).push({ start: open, end: close + 1, insert: this.aliasValue });
      }
      at = close;
    }
    if (this.options.dropNullUsage) {
      for (let at = find(USAGE_NULL, USAGE_NULL_PATTERN); at !== -1; at = find(USAGE_NULL, USAGE_NULL_PATTERN, at + 1)) {
        // Take a separating comma with it: the one before, else the one after.
        const end = at + USAGE_NULL.length;
        if (block[at - 1] === COMMA) (splices ??= []).push({ start: at - 1, end, insert: EMPTY });
        else if (block[end] === COMMA) (splices ??= []).push({ start: at, end: end + 1, insert: EMPTY });
      }
    }
    if (this.previousValue) {
      for (let at = find(PREVIOUS_NULL, PREVIOUS_NULL_PATTERN); at !== -1; at = find(PREVIOUS_NULL, PREVIOUS_NULL_PATTERN, at + 1)) {
        const end = at + PREVIOUS_NULL.length;
        (splices ??= []).push({ start: end - NULL_LENGTH, end, insert: this.previousValue });
      }
    }
    return splices ? splice(block, splices) : block;
  }

  /** Renames the model in a parsed chunk that will be re-serialised anyway (the usage chunk). */
  renameIn(chunk: Record<string, unknown>): Record<string, unknown> {
    if (typeof chunk.model === "string" && chunk.model === this.servedModel) return { ...chunk, model: this.options.alias };
    return chunk;
  }

  private learn(value: Uint8Array): void {
    try {
      const name: unknown = JSON.parse(decoder.decode(value));
      if (typeof name !== "string") return;
      this.servedModel = name;
      this.served = value.slice();
    } catch {
      // not a JSON string: keep looking
    }
  }
}

function splice(block: Uint8Array, splices: Splice[]): Uint8Array {
  splices.sort((a, b) => a.start - b.start);
  let length = block.length;
  for (const s of splices) length += s.insert.length - (s.end - s.start);
  const out = new Uint8Array(length);
  let from = 0;
  let to = 0;
  for (const s of splices) {
    out.set(block.subarray(from, s.start), to);
    to += s.start - from;
    out.set(s.insert, to);
    to += s.insert.length;
    from = s.end;
  }
  out.set(block.subarray(from), to);
  return out;
}
