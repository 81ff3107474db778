import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { classify, injectCacheStats, normalizeSplit, readCandidates, scrubCacheStats, type LiveEntry } from "../../shared/prompt-cache/classify.ts";
import { CacheControlError, parsePrompt, type TierPolicy } from "../../shared/prompt-cache/markers.ts";
import { canonicalJson, prefixHashes } from "../../shared/prompt-cache/prefix.ts";
import { countTokens } from "gpt-tokenizer/encoding/cl100k_base";
import { builtinRanksJson } from "../../dev/tokenizer-ranks.ts";
import { BUILTIN_TOKENIZER_VERSION, counterFromRanks, cumulativeTokens, parseRanks } from "../../shared/prompt-cache/tokenizer.ts";
import { tokenizeSegments, tokenizerVersionFor } from "../../shared/prompt-cache/tokenizer-service.ts";

const POLICY: TierPolicy = { enabled: ["5m", "1h"], defaultTtl: "5m" };
const EC = (ttl?: string) => ({ type: "ephemeral", ...(ttl ? { ttl } : {}) });

function rejects(body: Record<string, unknown>, param: string, message: RegExp) {
  try {
    parsePrompt(body, POLICY);
  } catch (err) {
    expect(err).toBeInstanceOf(CacheControlError);
    expect((err as CacheControlError).param).toBe(param);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain("Enabled cache tiers: 5m, 1h");
    return;
  }
  throw new Error("expected a CacheControlError");
}

describe("markers", () => {
  it("finds breakpoints on content blocks, tools, tool calls, messages and the top level; strips them all", () => {
    const body = {
      model: "m",
      cache_control: EC(),
      tools: [{ type: "function", function: { name: "f" }, cache_control: EC("1h") }],
      messages: [
        { role: "system", content: [{ type: "text", text: "long system prompt", cache_control: EC() }] },
        { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" }, cache_control: EC() }] },
        { role: "user", content: "question" },
      ],
    };
    const p = parsePrompt(body, POLICY);
    expect(p.blocks.map((b) => b.role)).toEqual(["tool_definition", "system", "assistant_tool_call", "user"]);
    expect(p.breakpoints).toEqual([
      { block: 0, tier: "1h" },
      { block: 1, tier: "5m" },
      { block: 2, tier: "5m" },
      { block: 3, tier: "5m" },
    ]);
    expect(JSON.stringify(p.stripped)).not.toContain("cache_control");
    expect(p.hadMarkers).toBe(true);
    // The original body is not mutated.
    expect(JSON.stringify(body)).toContain("cache_control");
  });

  it("returns the body untouched when there are no markers", () => {
    const body = { model: "m", messages: [{ role: "user", content: "hi" }] };
    const p = parsePrompt(body, POLICY);
    expect(p.stripped).toBe(body);
    expect(p.breakpoints).toEqual([]);
  });

  it("rejects bad markers with the parameter path and the enabled tiers", () => {
    const msg = (marker: unknown) => ({ messages: [{ role: "user", content: [{ type: "text", text: "x", cache_control: marker }] }] });
    rejects(msg(EC("24h")), "messages[0].content[0].cache_control", /24h cache tier is not enabled/);
    rejects(msg(EC("2h")), "messages[0].content[0].cache_control", /ttl must be one of/);
    rejects(msg({ type: "persistent" }), "messages[0].content[0].cache_control", /type must be "ephemeral"/);
    rejects(msg("ephemeral"), "messages[0].content[0].cache_control", /must be an object/);
    rejects(msg({ type: "ephemeral", scope: "global" }), "messages[0].content[0].cache_control", /unknown field/);
    rejects({ tools: [{ type: "function", cache_control: EC("24h") }] }, "tools[0].cache_control", /not enabled/);
  });

  it("allows at most four breakpoints", () => {
    const content = Array.from({ length: 5 }, (_, i) => ({ type: "text", text: `b${i}`, cache_control: EC() }));
    rejects({ messages: [{ role: "user", content }] }, "messages[].content[].cache_control", /At most 4/);
  });
});

describe("prefix hashes", () => {
  it("are cumulative and ignore key order and markers", async () => {
    const a = parsePrompt({ messages: [{ role: "user", content: [{ type: "text", text: "x", cache_control: EC() }] }, { role: "user", content: "y" }] }, POLICY);
    const b = parsePrompt({ messages: [{ content: [{ text: "x", type: "text" }], role: "user" }, { role: "user", content: "y" }] }, POLICY);
    const ha = await prefixHashes(a.blocks);
    const hb = await prefixHashes(b.blocks);
    expect(ha).toEqual(hb);
    expect(new Set(ha).size).toBe(2);
    const c = parsePrompt({ messages: [{ role: "assistant", content: "x" }, { role: "user", content: "y" }] }, POLICY);
    expect((await prefixHashes(c.blocks))[0]).not.toBe(ha[0]); // the role is part of the identity
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
  });
});

describe("classify", () => {
  const hashes = ["h0", "h1", "h2", "h3"];
  const tokens = [1000, 1500, 2000, 2600];
  const live = (...hs: string[]) => new Map<string, LiveEntry>(hs.map((h) => [h, { tier: "5m" }]));

  it("a cold prompt writes each breakpoint in its own tier", () => {
    const c = classify([{ block: 1, tier: "5m" }, { block: 3, tier: "1h" }], tokens, hashes, live(), 1024);
    expect(c.stats).toEqual({ read: 0, write5m: 1500, write1h: 1100, write24h: 0 });
    expect(c.writes.map((w) => [w.prefixHash, w.prefixTokens, w.tier])).toEqual([
      ["h1", 1500, "5m"],
      ["h3", 2600, "1h"],
    ]);
    expect(c.slide).toBeNull();
  });

  it("the longest live match is the read; deeper breakpoints write the rest", () => {
    const c = classify([{ block: 1, tier: "5m" }, { block: 3, tier: "5m" }], tokens, hashes, live("h1", "h0"), 1024);
    expect(c.stats).toEqual({ read: 1500, write5m: 1100, write1h: 0, write24h: 0 });
    expect(c.slide?.prefixHash).toBe("h1");
  });

  it("reads look back from a breakpoint to earlier blocks", () => {
    const c = classify([{ block: 3, tier: "5m" }], tokens, hashes, live("h2"), 1024);
    expect(c.stats.read).toBe(2000);
    expect(c.stats.write5m).toBe(600);
    expect(readCandidates([{ block: 30, tier: "5m" }])).toEqual(Array.from({ length: 21 }, (_, i) => i + 10));
  });

  it("nothing below min_prefix_tokens is read or written", () => {
    const c = classify([{ block: 0, tier: "5m" }], tokens, hashes, live("h0"), 1024);
    expect(c.stats).toEqual({ read: 0, write5m: 0, write1h: 0, write24h: 0 });
    expect(c.writes).toEqual([]);
  });

  it("the reported split never exceeds the prompt", () => {
    expect(normalizeSplit({ read: 900, write5m: 300, write1h: 0, write24h: 0 }, 1000)).toEqual({ read: 700, write5m: 300, write1h: 0, write24h: 0 });
    expect(normalizeSplit({ read: 0, write5m: 1200, write1h: 0, write24h: 0 }, 1000)).toEqual({ read: 0, write5m: 0, write1h: 0, write24h: 0 });
  });
});

describe("usage rewriting", () => {
  it("injects the split and keeps prompt_tokens the full input", () => {
    const usage = injectCacheStats({ prompt_tokens: 3000, completion_tokens: 5, prompt_tokens_details: { audio_tokens: 0 } }, { read: 2000, write5m: 600, write1h: 100, write24h: 0 });
    expect(usage).toEqual({
      prompt_tokens: 3000,
      completion_tokens: 5,
      prompt_tokens_details: { audio_tokens: 0, cached_tokens: 2000 },
      cache_read_input_tokens: 2000,
      cache_creation_input_tokens: 700,
      cache_creation: { ephemeral_5m_input_tokens: 600, ephemeral_1h_input_tokens: 100, ephemeral_24h_input_tokens: 0 },
    });
  });

  it("scrubs a provider's cache fields for models without caching", () => {
    expect(scrubCacheStats({ prompt_tokens: 10, prompt_tokens_details: { cached_tokens: 8 }, cache_read_input_tokens: 8, cache_creation: {} })).toEqual({
      prompt_tokens: 10,
      prompt_tokens_details: { cached_tokens: 0 },
    });
  });
});

describe("built-in tokenizer", () => {
  // The table as the gateway reads it from R2: the uploaded JSON, parsed.
  const counter = counterFromRanks(parseRanks(JSON.parse(builtinRanksJson())));
  const builtinCounter = () => Promise.resolve(counter);

  it("counts from the uploaded rank table exactly as gpt-tokenizer's own encoding", () => {
    for (const text of ["hello world", "résumé 数据 🙂\n\tcode();", "You are a careful assistant. ".repeat(200), ""]) {
      expect(counter(text)).toBe(countTokens(text));
    }
  });

  it("refuses storage contents that are not a rank table", () => {
    expect(() => parseRanks({})).toThrow(/rank table/);
    expect(() => parseRanks(["a", "b"])).toThrow(/rank table/);
    const bad: unknown[] = JSON.parse(builtinRanksJson());
    bad[500] = [1, 300];
    expect(() => parseRanks(bad)).toThrow(/byte array/);
  });

  it("its version names the installed package and encoding", () => {
    const pkg = JSON.parse(readFileSync("node_modules/gpt-tokenizer/package.json", "utf8")) as { version: string };
    expect(BUILTIN_TOKENIZER_VERSION).toBe(`gpt-tokenizer@${pkg.version}/cl100k_base`);
  });

  it("counts cumulatively per block, reusing known totals", async () => {
    const p = parsePrompt({ messages: [{ role: "user", content: "hello world" }, { role: "user", content: "hello world" }] }, POLICY);
    expect(await cumulativeTokens(p.blocks, builtinCounter)).toEqual([2, 4]);
    const remembered = new Map<number, number>([[0, 100]]);
    let loads = 0;
    const counted = await cumulativeTokens(p.blocks, () => (loads++, builtinCounter()), undefined, { get: (i) => remembered.get(i), set: (i, t) => remembered.set(i, t) });
    expect(counted).toEqual([100, 102]); // block 0 was known; block 1 counted on top of it
    expect(remembered.get(1)).toBe(102);
    expect(loads).toBe(1);
  });
});

describe("tokenizer-service client", () => {
  const answer = (body: unknown, status = 200): typeof fetch => (async () => new Response(JSON.stringify(body), { status })) as unknown as typeof fetch;
  const good = { virtual_model: "m", tokenizer_version: "v1", segment_counts: [3, 0, 4], cumulative: [3, 3, 7], total: 7 };

  it("reads the alias's version and the cumulative counts, sending one segment per block", async () => {
    expect(await tokenizerVersionFor("http://t/", "m", undefined, answer({ models: [{ alias: "x", tokenizer_version: "vx" }, { alias: "m", hf_repo: "o/m", tokenizer_version: "v1" }] }))).toBe("v1");
    let sent: unknown;
    const capture = (async (_url: string, init: RequestInit) => {
      sent = JSON.parse(String(init.body));
      return new Response(JSON.stringify(good));
    }) as unknown as typeof fetch;
    expect(await tokenizeSegments("http://t", "m", ["a b c", "", "d e f g"], "v1", undefined, capture)).toEqual({ tokenizerVersion: "v1", cumulative: [3, 3, 7] });
    expect(sent).toEqual({ model: "m", segments: ["a b c", "", "d e f g"] });
  });

  it("rejects answers that would misbill: wrong length, inconsistent sums, another version, errors", async () => {
    const segs = ["a", "b", "c"];
    await expect(tokenizeSegments("http://t", "m", segs, "v1", undefined, answer({ ...good, segment_counts: [3, 4], cumulative: [3, 7] }))).rejects.toThrow(/segments/);
    await expect(tokenizeSegments("http://t", "m", segs, "v1", undefined, answer({ ...good, cumulative: [3, 4, 7] }))).rejects.toThrow(/cumulative/);
    await expect(tokenizeSegments("http://t", "m", segs, "v1", undefined, answer({ ...good, total: 8 }))).rejects.toThrow(/total/);
    await expect(tokenizeSegments("http://t", "m", segs, "v1", undefined, answer({ ...good, tokenizer_version: "v2" }))).rejects.toThrow(/version/);
    await expect(tokenizeSegments("http://t", "m", segs, "v1", undefined, answer({ ...good, segment_counts: [3, -1, 5] }))).rejects.toThrow();
    await expect(tokenizeSegments("http://t", "m", segs, "v1", undefined, answer({ error: "x" }, 500))).rejects.toThrow(/500/);
    await expect(tokenizerVersionFor("http://t", "m", undefined, answer({ models: [] }))).rejects.toThrow(/does not serve/);
  });
});
