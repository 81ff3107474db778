/** The streaming multipart reader: the parts of a real form body, however the body is chunked. */
import { describe, expect, it } from "vitest";
import { multipartBoundary, MultipartError, readMultipart } from "../../shared/multipart.ts";

function streamOf(bytes: Uint8Array, cuts: number[]): ReadableStream<Uint8Array> {
  const edges = [0, ...cuts, bytes.length];
  return new ReadableStream({
    start(controller) {
      for (let i = 0; i + 1 < edges.length; i++) controller.enqueue(bytes.slice(edges[i], edges[i + 1]));
      controller.close();
    },
  });
}

async function partsOf(stream: ReadableStream<Uint8Array>, boundary: string) {
  const parts: { name: string; filename: string | null; text: string }[] = [];
  let chunks: Uint8Array[] = [];
  for await (const e of readMultipart(stream, boundary)) {
    if (e.kind === "part") {
      parts.push({ name: e.name, filename: e.filename, text: "" });
      chunks = [];
    } else if (e.kind === "data") chunks.push(e.bytes);
    else parts.at(-1)!.text = new TextDecoder().decode(Buffer.concat(chunks));
  }
  return parts;
}

describe("readMultipart", () => {
  it("reads a form's fields and file identically whole, byte by byte and split at every offset", async () => {
    const form = new FormData();
    form.append("file", new File(['{"a":1}\r\n--not-a-boundary\né😀\n'], "in.jsonl"));
    form.append("purpose", "batch");
    const req = new Request("http://x/", { method: "POST", body: form });
    const boundary = multipartBoundary(req.headers.get("content-type") ?? undefined)!;
    expect(boundary).toBeTruthy();
    const bytes = new Uint8Array(await req.arrayBuffer());
    const expected = [
      { name: "file", filename: "in.jsonl", text: '{"a":1}\r\n--not-a-boundary\né😀\n' },
      { name: "purpose", filename: null, text: "batch" },
    ];
    expect(await partsOf(streamOf(bytes, []), boundary)).toEqual(expected);
    expect(await partsOf(streamOf(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1)), boundary)).toEqual(expected);
    for (let cut = 1; cut < bytes.length; cut++) expect(await partsOf(streamOf(bytes, [cut]), boundary)).toEqual(expected);
  });

  it("refuses a body cut before its closing delimiter, and finds boundaries only in form-data types", async () => {
    const body = new TextEncoder().encode('--b\r\nContent-Disposition: form-data; name="x"\r\n\r\nvalue');
    await expect(partsOf(streamOf(body, []), "b")).rejects.toBeInstanceOf(MultipartError);
    expect(multipartBoundary('multipart/form-data; boundary="abc"')).toBe("abc");
    expect(multipartBoundary("multipart/form-data; boundary=xyz; charset=utf-8")).toBe("xyz");
    expect(multipartBoundary("application/json")).toBeNull();
  });
});
