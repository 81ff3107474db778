/**
 * The Batches API's file formats and ids: input lines checked one by one (the error names the
 * line), lines read from a byte stream however it is chunked, and the public ids.
 */
import { describe, expect, it } from "vitest";
import { BatchLineError, parseBatchLine, readLines } from "../../shared/batch-jsonl.ts";
import { batchPublicId, batchResultFileId, batchRowId, FILE_ID } from "../../shared/batch-message.ts";

const good = { custom_id: "a", method: "POST", url: "/v1/chat/completions", body: { model: "m", messages: [] } };

describe("parseBatchLine", () => {
  it("accepts a request line and skips blank ones", () => {
    expect(parseBatchLine(JSON.stringify(good), 3)).toMatchObject({ line: 3, custom_id: "a", url: "/v1/chat/completions", model: "m" });
    expect(parseBatchLine("   ", 4)).toBeNull();
  });

  it.each([
    ["{oops", /not valid JSON/],
    ["[1]", /not a JSON object/],
    [JSON.stringify({ ...good, custom_id: "" }), /custom_id/],
    [JSON.stringify({ ...good, custom_id: "a\u0000" }), /custom_id/],
    [JSON.stringify({ ...good, method: "GET" }), /method/],
    [JSON.stringify({ ...good, url: "/v1/images/generations" }), /url/],
    [JSON.stringify({ ...good, body: "x" }), /body/],
    [JSON.stringify({ ...good, body: { messages: [] } }), /body\.model/],
  ])("refuses %s naming the line", (text, pattern) => {
    let err: unknown;
    try {
      parseBatchLine(text, 7);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BatchLineError);
    expect((err as BatchLineError).line).toBe(7);
    expect((err as Error).message).toMatch(/^Line 7 /);
    expect((err as Error).message).toMatch(pattern);
  });
});

function streamOf(bytes: Uint8Array, cuts: number[]): ReadableStream<Uint8Array> {
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    pieces.push(bytes.slice(from, cut));
    from = cut;
  }
  return new ReadableStream({
    start(controller) {
      for (const p of pieces) controller.enqueue(p);
      controller.close();
    },
  });
}

async function collect(stream: ReadableStream<Uint8Array>, max = 1000) {
  const out: [number, string][] = [];
  for await (const { text, line } of readLines(stream, max)) out.push([line, text]);
  return out;
}

describe("readLines", () => {
  const text = "\uFEFFfirst\r\nsecond é€😀\n\nlast without newline";
  const bytes = new TextEncoder().encode(text);
  const expected: [number, string][] = [
    [1, "first"],
    [2, "second é€😀"],
    [3, ""],
    [4, "last without newline"],
  ];

  it("gives the same lines whole, byte by byte and split at every offset (CRLF, BOM, split UTF-8)", async () => {
    expect(await collect(streamOf(bytes, []))).toEqual(expected);
    expect(await collect(streamOf(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1)))).toEqual(expected);
    for (let cut = 1; cut < bytes.length; cut++) expect(await collect(streamOf(bytes, [cut]))).toEqual(expected);
  });

  it("says where each line ends, so a reader resuming from any line's end reads the rest unchanged", async () => {
    const lines: { text: string; line: number; end: number }[] = [];
    for await (const l of readLines(streamOf(bytes, [3, 9]), 1000)) lines.push(l);
    const breaks = [...bytes.keys()].filter((i) => bytes[i] === 0x0a).map((i) => i + 1);
    expect(lines.map((l) => l.end)).toEqual([...breaks, bytes.length]);
    for (const at of lines) {
      const rest: [number, string][] = [];
      for await (const { text, line } of readLines(streamOf(bytes.subarray(at.end), [2]), 1000, { line: at.line, offset: at.end })) rest.push([line, text]);
      expect(rest).toEqual(expected.slice(at.line));
    }
  });

  it("refuses invalid UTF-8 and overlong lines, naming the line", async () => {
    await expect(collect(streamOf(new Uint8Array([0x61, 0x0a, 0xff, 0x0a]), []))).rejects.toMatchObject({ line: 2 });
    await expect(collect(streamOf(new TextEncoder().encode("ok\n" + "x".repeat(50)), [5]), 20)).rejects.toMatchObject({ line: 2 });
  });
});

describe("ids", () => {
  it("batch ids round-trip; result file ids are files, stable and distinct", () => {
    const uuid = crypto.randomUUID();
    expect(batchPublicId(uuid)).toMatch(/^batch_[0-9a-f]{32}$/);
    expect(batchRowId(batchPublicId(uuid))).toBe(uuid);
    expect(batchRowId("batch_xyz")).toBeNull();
    expect(batchRowId(uuid)).toBeNull();
    const output = batchResultFileId(uuid, "output");
    expect(output).toMatch(FILE_ID);
    expect(batchResultFileId(uuid, "output")).toBe(output);
    expect(batchResultFileId(uuid, "error")).not.toBe(output);
  });
});
