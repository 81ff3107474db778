/**
 * The Batches API's file formats (OpenAI's): input lines `{custom_id, method, url, body}`, checked
 * one by one so a bad file is refused naming its first bad line, and the output and error lines
 * `{id, custom_id, response: {status_code, request_id, body}, error}` Tollgate writes back.
 */

/** The request URLs a batch line may name (OpenAI's spelling, without the /ai prefix). */
export const BATCH_URLS = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses"] as const;
export type BatchUrl = (typeof BATCH_URLS)[number];

/** Longest `custom_id` accepted (it is recorded with the request's usage). */
export const CUSTOM_ID_MAX = 512;

export interface BatchLine {
  /** 1-based line number in the file. */
  line: number;
  custom_id: string;
  url: BatchUrl;
  body: Record<string, unknown>;
  model: string;
}

export class BatchLineError extends Error {
  constructor(
    readonly line: number,
    detail: string,
  ) {
    super(`Line ${line} of the file is invalid: ${detail}`);
  }
}

/**
 * Parses one input line (`text` without its line break); null for a blank line. Throws
 * BatchLineError naming the line.
 *
 * @example parseBatchLine('{"custom_id":"a","method":"POST","url":"/v1/embeddings","body":{"model":"m","input":"x"}}', 1)
 */
export function parseBatchLine(text: string, line: number): BatchLine | null {
  if (text.trim() === "") return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BatchLineError(line, "not valid JSON.");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new BatchLineError(line, "not a JSON object.");
  const v = value as Record<string, unknown>;
  if (typeof v.custom_id !== "string" || v.custom_id === "") throw new BatchLineError(line, "'custom_id' must be a non-empty string.");
  if (v.custom_id.length > CUSTOM_ID_MAX || /[\u0000-\u001f\u007f]/.test(v.custom_id)) {
    throw new BatchLineError(line, `'custom_id' must be at most ${CUSTOM_ID_MAX} characters without control characters.`);
  }
  if (v.method !== "POST") throw new BatchLineError(line, "'method' must be \"POST\".");
  if (typeof v.url !== "string" || !(BATCH_URLS as readonly string[]).includes(v.url)) throw new BatchLineError(line, `'url' must be one of ${BATCH_URLS.join(", ")}.`);
  if (typeof v.body !== "object" || v.body === null || Array.isArray(v.body)) throw new BatchLineError(line, "'body' must be a JSON object.");
  const body = v.body as Record<string, unknown>;
  if (typeof body.model !== "string" || body.model === "" || /[\u0000-\u001f\u007f]/.test(body.model)) throw new BatchLineError(line, "'body.model' must be a model name.");
  return { line, custom_id: v.custom_id, url: v.url as BatchUrl, body, model: body.model };
}

/**
 * Splits bytes into lines as they arrive (LF or CRLF; a leading BOM dropped), each decoded as UTF-8
 * with its 1-based number. Splitting on the LF byte is safe: no multi-byte UTF-8 sequence contains
 * it. Invalid UTF-8, or a line longer than `maxLineBytes`, throws BatchLineError naming the line.
 */
export class LineSplitter {
  private readonly decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  private pending: Uint8Array = new Uint8Array(0);
  private line: number;
  /** The input's byte offset of `pending`'s first byte. */
  private offset: number;

  /** `from`: where the bytes it is given start in the whole input (a reader resuming mid-file). */
  constructor(
    private readonly maxLineBytes: number,
    from: LinePosition = { line: 0, offset: 0 },
  ) {
    this.line = from.line;
    this.offset = from.offset;
  }

  /** The lines `chunk` completes. */
  push(chunk: Uint8Array): SplitLine[] {
    const buffer = this.pending.length === 0 ? chunk : concat(this.pending, chunk);
    const out: SplitLine[] = [];
    let start = 0;
    let nl: number;
    while ((nl = buffer.indexOf(0x0a, start)) >= 0) {
      this.line++;
      if (nl - start > this.maxLineBytes) throw new BatchLineError(this.line, `longer than ${this.maxLineBytes} bytes.`);
      out.push({ text: this.decode(buffer.subarray(start, nl), this.line), line: this.line, end: this.offset + nl + 1 });
      start = nl + 1;
    }
    this.offset += start;
    this.pending = buffer.slice(start);
    if (this.pending.length > this.maxLineBytes) throw new BatchLineError(this.line + 1, `longer than ${this.maxLineBytes} bytes.`);
    return out;
  }

  /** The last line, if the input did not end with a line break. */
  finish(): SplitLine[] {
    if (this.pending.length === 0) return [];
    const text = this.decode(this.pending, this.line + 1);
    this.offset += this.pending.length;
    this.pending = new Uint8Array(0);
    return [{ text, line: ++this.line, end: this.offset }];
  }

  private decode(bytes: Uint8Array, line: number): string {
    try {
      return this.decoder.decode(bytes).replace(/\r$/, "");
    } catch {
      throw new BatchLineError(line, "not valid UTF-8.");
    }
  }
}

/** A point between two lines: the number of the line before it and the byte offset just past it. */
export interface LinePosition {
  line: number;
  offset: number;
}

/** One line: its text, its 1-based number and the byte offset just past its line break. */
export interface SplitLine {
  text: string;
  line: number;
  end: number;
}

/** The lines of a byte stream (see LineSplitter); `from` says where the stream starts in the file. */
export async function* readLines(stream: ReadableStream<Uint8Array>, maxLineBytes: number, from?: LinePosition): AsyncGenerator<SplitLine> {
  const splitter = new LineSplitter(maxLineBytes, from);
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield* splitter.push(value);
    }
    yield* splitter.finish();
  } finally {
    reader.releaseLock();
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** An output or error file line (OpenAI's shape). */
export interface BatchOutputLine {
  id: string;
  custom_id: string;
  response: { status_code: number; request_id: string; body: unknown } | null;
  error: { code: string; message: string } | null;
}

/** The `body` of an output line: the response's JSON when it is JSON, else its text. */
export function responseBodyValue(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
