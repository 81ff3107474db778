/**
 * The SSE matrix: line endings, split terminators, BOM, comments, multi-line data, multi-byte
 * UTF-8, huge events, [DONE], data after [DONE], error frames and cut streams — each fed whole,
 * byte by byte and split at every offset, with identical bytes out and identical observations.
 */
import { describe, expect, it } from "vitest";
import { concat, SseFramer, SsePassThrough, usageBlock, type StreamObservation, type PassThroughOutput } from "../../shared/sse-pass-through.ts";

const enc = new TextEncoder();
const USAGE = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18, prompt_tokens_details: { cached_tokens: 3 }, completion_tokens_details: { reasoning_tokens: 2 } };
const EXPECTED_USAGE = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18, cached_tokens: 3, reasoning_tokens: 2 };

const chunk = (content: string, finish: string | null = null) =>
  JSON.stringify({ id: "c1", object: "chat.completion.chunk", model: "m", choices: [{ index: 0, delta: { content }, finish_reason: finish }] });
const usageChunk = JSON.stringify({ id: "c1", object: "chat.completion.chunk", model: "m", choices: [], usage: USAGE });

function stream(events: string[], eol = "\n"): string {
  return events.map((e) => e.replace(/\n/g, eol) + eol + eol).join("");
}

const BASIC = [`data: ${chunk("Hel")}`, `data: ${chunk("lo")}`, `data: ${chunk("", "stop")}`, `data: ${usageChunk}`, "data: [DONE]"];

interface Run {
  bytes: Uint8Array;
  observation: StreamObservation;
  usageBlocks: number;
}

/** Runs the pass-through over `input` cut at `cuts`; usage chunks are forwarded re-serialised as received. */
function run(input: Uint8Array, cuts: number[], dropUsageChunk = false): Run {
  const passThrough = new SsePassThrough({ dropUsageChunk });
  const out: Uint8Array[] = [];
  let usageBlocks = 0;
  const take = (parts: PassThroughOutput[]) => {
    for (const p of parts) {
      if (p instanceof Uint8Array) out.push(p.slice());
      else {
        usageBlocks++;
        if (!p.drop) out.push(p.original.slice()); // unedited: the original bytes go out
      }
    }
  };
  let start = 0;
  for (const end of [...cuts, input.length]) {
    take(passThrough.push(input.subarray(start, end)));
    start = end;
  }
  take(passThrough.end());
  return { bytes: concat(out.length ? out : [new Uint8Array()]), observation: passThrough.observation, usageBlocks };
}

/** Same bytes out (compared as bytes) and the same observation, however the input is cut. */
function expectSame(actual: Run, expected: Run, label: string) {
  expect(Buffer.from(actual.bytes).equals(Buffer.from(expected.bytes)), `${label}: bytes differ`).toBe(true);
  expect({ ...actual, bytes: null }, label).toEqual({ ...expected, bytes: null });
}

function expectSameEverywhere(input: Uint8Array, check: (r: Run) => void, opts: { every?: number; drop?: boolean } = {}) {
  const whole = run(input, [], opts.drop);
  check(whole);
  expectSame(run(input, Array.from({ length: Math.max(0, input.length - 1) }, (_, i) => i + 1), opts.drop), whole, "byte by byte");
  const step = opts.every ?? 1;
  for (let cut = 1; cut < input.length; cut += step) expectSame(run(input, [cut], opts.drop), whole, `split at ${cut}`);
}

describe("SsePassThrough pass-through and metering", () => {
  for (const [name, eol] of [["LF", "\n"], ["CRLF", "\r\n"], ["CR", "\r"]] as const) {
    it(`${name}: bytes unchanged; usage, finish reason and [DONE] captured`, () => {
      const input = enc.encode(stream(BASIC, eol));
      expectSameEverywhere(input, (r) => {
        expect(Buffer.from(r.bytes).equals(input)).toBe(true);
        expect(r.observation).toEqual({ usage: EXPECTED_USAGE, finishReason: "stop", sawDone: true, errorFrame: null, blocksAfterDone: 0, finalResponse: null, servedModel: null });
        expect(r.usageBlocks).toBe(1);
      });
    });
  }

  it("mixed line endings, a BOM, comments and retry/id fields", () => {
    const text = "\uFEFF: keep-alive\n\nretry: 1000\r\nid: 7\r\n" + `data: ${chunk("a", "length")}\r\r` + `: ping\r\n\r\n` + `data: ${usageChunk}\n\n` + "data: [DONE]\r\n\r\n";
    const input = enc.encode(text);
    expectSameEverywhere(input, (r) => {
      expect(Buffer.from(r.bytes).equals(input)).toBe(true);
      expect(r.observation.usage).toEqual(EXPECTED_USAGE);
      expect(r.observation.finishReason).toBe("length");
      expect(r.observation.sawDone).toBe(true);
    });
  });

  it("multi-line data is joined before parsing", () => {
    const multi = `data: {"id":"c1","choices":[],\ndata: "usage":${JSON.stringify(USAGE)}}`;
    const input = enc.encode(stream([`data: ${chunk("x", "stop")}`, multi, "data: [DONE]"]));
    expectSameEverywhere(input, (r) => {
      expect(Buffer.from(r.bytes).equals(input)).toBe(true);
      expect(r.observation.usage).toEqual(EXPECTED_USAGE);
      expect(r.usageBlocks).toBe(1);
    });
  });

  it("multi-byte UTF-8 split across chunks passes through intact", () => {
    const input = enc.encode(stream([`data: ${chunk("héllo wörld 👋🏽 日本語")}`, `data: ${chunk("", "stop")}`, `data: ${usageChunk}`, "data: [DONE]"]));
    expectSameEverywhere(input, (r) => {
      expect(Buffer.from(r.bytes).equals(input)).toBe(true);
      expect(new TextDecoder().decode(r.bytes)).toContain("👋🏽 日本語");
      expect(r.observation.usage).toEqual(EXPECTED_USAGE);
    });
  });

  it("a huge event (256 KiB) is forwarded whole", () => {
    const input = enc.encode(stream([`data: ${chunk("x".repeat(256 * 1024))}`, `data: ${chunk("", "stop")}`, `data: ${usageChunk}`, "data: [DONE]"]));
    expectSameEverywhere(
      input,
      (r) => {
        expect(Buffer.from(r.bytes).equals(input)).toBe(true);
        expect(r.observation.usage).toEqual(EXPECTED_USAGE);
      },
      { every: 4099 },
    );
  });

  it("data after [DONE] is forwarded and counted", () => {
    const input = enc.encode(stream([...BASIC, `data: ${chunk("late")}`, ": trailing comment"]));
    expectSameEverywhere(input, (r) => {
      expect(Buffer.from(r.bytes).equals(input)).toBe(true);
      expect(r.observation.sawDone).toBe(true);
      expect(r.observation.blocksAfterDone).toBe(2);
    });
  });

  it("an error frame is forwarded and recorded; no [DONE] is invented", () => {
    const error = { message: "overloaded", type: "server_error", code: "overloaded", param: null };
    const input = enc.encode(stream([`data: ${chunk("Hel")}`, `data: ${JSON.stringify({ error })}`]));
    expectSameEverywhere(input, (r) => {
      expect(Buffer.from(r.bytes).equals(input)).toBe(true);
      expect(r.observation.errorFrame).toEqual(error);
      expect(r.observation.sawDone).toBe(false);
      expect(r.observation.usage).toBeNull();
    });
  });

  it("a cut stream (no blank line, no [DONE]) forwards what came and reports it", () => {
    const full = stream(BASIC.slice(0, 2));
    const input = enc.encode(full + `data: ${chunk("partial")}`);
    expectSameEverywhere(input, (r) => {
      expect(Buffer.from(r.bytes).equals(input)).toBe(true);
      expect(r.observation.sawDone).toBe(false);
      expect(r.observation.usage).toBeNull();
    });
  });

  it("usage arriving in an unterminated last block is still metered", () => {
    const input = enc.encode(stream(BASIC.slice(0, 3)) + `data: ${usageChunk}\n`);
    expectSameEverywhere(input, (r) => {
      expect(Buffer.from(r.bytes).equals(input)).toBe(true);
      expect(r.observation.usage).toEqual(EXPECTED_USAGE);
    });
  });

  it("responses API streams: usage and status from response.completed", () => {
    const completed = { type: "response.completed", response: { id: "resp_1", status: "completed", usage: { input_tokens: 5, output_tokens: 2, total_tokens: 7 } } };
    const input = enc.encode(
      stream([`event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"hi"}`, `event: response.completed\ndata: ${JSON.stringify(completed)}`]),
    );
    expectSameEverywhere(input, (r) => {
      expect(Buffer.from(r.bytes).equals(input)).toBe(true);
      expect(r.observation.usage).toEqual({ prompt_tokens: 5, completion_tokens: 2, total_tokens: 7, cached_tokens: 0, reasoning_tokens: 0 });
      expect(r.observation.finishReason).toBe("completed");
      expect(r.observation.finalResponse).toEqual(completed.response);
      expect(r.usageBlocks).toBe(0);
    });
  });
});

describe("SsePassThrough usage chunk handling", () => {
  it("drops exactly the usage-only chunk when the client did not ask for usage", () => {
    for (const eol of ["\n", "\r\n", "\r"]) {
      const input = enc.encode(stream(BASIC, eol));
      const expected = enc.encode(stream(BASIC.filter((e) => !e.includes('"usage"')), eol));
      expectSameEverywhere(
        input,
        (r) => {
          expect(new TextDecoder().decode(r.bytes)).toBe(new TextDecoder().decode(expected));
          expect(r.observation.usage).toEqual(EXPECTED_USAGE);
          expect(r.usageBlocks).toBe(1); // surfaced to the caller even though it is dropped
        },
        { drop: true },
      );
    }
  });

  it("a content chunk that also carries usage is never dropped", () => {
    const both = JSON.stringify({ id: "c1", choices: [{ index: 0, delta: { content: "x" }, finish_reason: "stop" }], usage: USAGE });
    const input = enc.encode(stream([`data: ${both}`, "data: [DONE]"]));
    const r = run(input, [], true);
    expect(Buffer.from(r.bytes).equals(input)).toBe(true);
    expect(r.observation.usage).toEqual(EXPECTED_USAGE);
  });

  it("a rewritten usage chunk keeps the block's line ending", () => {
    for (const eol of ["\n", "\r\n", "\r"]) {
      const original = enc.encode(`data: ${usageChunk}${eol}${eol}`);
      const text = new TextDecoder().decode(usageBlock({ choices: [], usage: { prompt_tokens: 1 } }, original));
      expect(text).toBe(`data: {"choices":[],"usage":{"prompt_tokens":1}}${eol}${eol}`);
    }
  });
});

describe("SseFramer blocks", () => {
  /** The blocks (as text, with continuation LFs marked) the framer releases for `input` cut at `cuts`. */
  function blocks(input: Uint8Array, cuts: number[]): string[] {
    const framer = new SseFramer();
    const out: string[] = [];
    const dec = new TextDecoder();
    let start = 0;
    for (const end of [...cuts, input.length]) {
      framer.push(input.subarray(start, end), (block, continuation) => out.push((continuation ? "+" : "") + dec.decode(block)));
      start = end;
    }
    const rest = framer.rest();
    if (rest) out.push(`rest:${dec.decode(rest)}`);
    return out;
  }

  it("LF-only streams are cut at each blank line, however the chunks fall", () => {
    const text = "data: a\n\n: c\nid: 1\ndata: b\n\n\n\ndata: [DONE]\n\ndata: tail";
    const expected = ["data: a\n\n", ": c\nid: 1\ndata: b\n\n", "\n", "\n", "data: [DONE]\n\n", "rest:data: tail"];
    const input = enc.encode(text);
    expect(blocks(input, [])).toEqual(expected);
    for (let cut = 1; cut < input.length; cut++) expect(blocks(input, [cut]), `split at ${cut}`).toEqual(expected);
    expect(blocks(input, Array.from({ length: input.length - 1 }, (_, i) => i + 1))).toEqual(expected);
  });

  it("chunks with and without CRs give the same blocks as the whole stream", () => {
    const text = "data: a\r\n\r\ndata: b\n\ndata: c\r\rdata: d\n\n: x\r\n\r\ndata: e\n\n";
    const input = enc.encode(text);
    const whole = blocks(input, []);
    expect(whole.filter((b) => !b.startsWith("+"))).toEqual(["data: a\r\n\r\n", "data: b\n\n", "data: c\r\r", "data: d\n\n", ": x\r\n\r\n", "data: e\n\n"]);
    for (let cut = 1; cut < input.length; cut++) {
      for (let cut2 = cut + 1; cut2 < input.length; cut2 += 3) {
        const unmarked = (bs: string[]) => bs.map((b) => b.replace(/^\+/, "")).join("");
        expect(unmarked(blocks(input, [cut, cut2])), `split at ${cut}, ${cut2}`).toEqual(unmarked(whole));
        expect(blocks(input, [cut, cut2]).filter((b) => !b.startsWith("+")).map((b) => b.trim()), `split at ${cut}, ${cut2}`).toEqual(whole.map((b) => b.trim()));
      }
    }
  });
});
