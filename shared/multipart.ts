/**
 * A streaming multipart/form-data reader (RFC 7578): parts come out as their headers and then
 * their bytes, as they arrive, so a 100 MB upload never has to be held in memory whole. Only
 * what a form upload uses is supported: CRLF line breaks, `Content-Disposition` with `name` and
 * `filename`, no nested multiparts.
 */

export type MultipartEvent = { kind: "part"; name: string; filename: string | null } | { kind: "data"; bytes: Uint8Array } | { kind: "end_part" };

export class MultipartError extends Error {}

const CRLF = new Uint8Array([0x0d, 0x0a]);
const HEADERS_END = new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a]);
/** Part headers larger than this are refused (a form field's headers are a few hundred bytes). */
const MAX_HEADER_BYTES = 16 * 1024;

/** The boundary of a `multipart/form-data; boundary=…` content type, or null. */
export function multipartBoundary(contentType: string | undefined): string | null {
  if (!contentType || !/^multipart\/form-data\s*(;|$)/i.test(contentType)) return null;
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2] ?? null) : null;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0]!;
  for (let i = haystack.indexOf(first, from); i >= 0 && i <= haystack.length - needle.length; i = haystack.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function parseDisposition(headerText: string): { name: string; filename: string | null } {
  const line = headerText.split("\r\n").find((h) => /^content-disposition\s*:/i.test(h));
  if (!line) throw new MultipartError("a part has no Content-Disposition header");
  const name = /;\s*name="([^"]*)"/i.exec(line)?.[1];
  if (name === undefined) throw new MultipartError("a part has no name");
  const filename = /;\s*filename="([^"]*)"/i.exec(line)?.[1] ?? null;
  return { name, filename };
}

/**
 * The parts of a multipart body, as events: `part` (its name and filename), then `data` chunks of
 * its bytes in order, then `end_part`. Throws MultipartError for a body that is not well formed
 * (including one that ends before its closing delimiter).
 *
 * @example for await (const e of readMultipart(request.body, multipartBoundary(type)!)) …
 */
export async function* readMultipart(stream: ReadableStream<Uint8Array>, boundary: string): AsyncGenerator<MultipartEvent> {
  const encoder = new TextEncoder();
  // The first delimiter may open the body without a line break before it.
  const firstDelimiter = encoder.encode(`--${boundary}`);
  const delimiter = encoder.encode(`\r\n--${boundary}`);
  let buffer: Uint8Array = new Uint8Array(0);
  let state: "preamble" | "after_delimiter" | "headers" | "body" | "done" = "preamble";
  const reader = stream.getReader();
  let ended = false;
  try {
    for (;;) {
      if (!ended) {
        const { done, value } = await reader.read();
        if (done) ended = true;
        else buffer = concat(buffer, value);
      }
      let progressed = true;
      while (progressed) {
        progressed = false;
        if (state === "preamble") {
          const at = indexOf(buffer, firstDelimiter, 0);
          if (at >= 0) {
            buffer = buffer.slice(at + firstDelimiter.length);
            state = "after_delimiter";
            progressed = true;
          }
        } else if (state === "after_delimiter") {
          if (buffer.length >= 2) {
            if (buffer[0] === 0x2d && buffer[1] === 0x2d) {
              state = "done";
              return;
            }
            if (buffer[0] !== CRLF[0] || buffer[1] !== CRLF[1]) throw new MultipartError("a delimiter is not followed by a line break");
            buffer = buffer.slice(2);
            state = "headers";
            progressed = true;
          }
        } else if (state === "headers") {
          const at = indexOf(buffer, HEADERS_END, 0);
          if (at >= 0) {
            const { name, filename } = parseDisposition(new TextDecoder().decode(buffer.subarray(0, at)));
            buffer = buffer.slice(at + HEADERS_END.length);
            state = "body";
            progressed = true;
            yield { kind: "part", name, filename };
          } else if (buffer.length > MAX_HEADER_BYTES) {
            throw new MultipartError("a part's headers are too large");
          }
        } else if (state === "body") {
          const at = indexOf(buffer, delimiter, 0);
          if (at >= 0) {
            if (at > 0) yield { kind: "data", bytes: buffer.slice(0, at) };
            buffer = buffer.slice(at + delimiter.length);
            state = "after_delimiter";
            progressed = true;
            yield { kind: "end_part" };
          } else if (buffer.length > delimiter.length) {
            // Everything but a tail that could be the start of a delimiter is the part's.
            const keep = delimiter.length - 1;
            yield { kind: "data", bytes: buffer.slice(0, buffer.length - keep) };
            buffer = buffer.slice(buffer.length - keep);
          }
        }
      }
      if (ended) throw new MultipartError("the body ended before its closing delimiter");
    }
  } finally {
    reader.releaseLock();
  }
}
