/**
 * Prompt-cache accounting through the gateway in workerd, against real Postgres: the reference's
 * five behaviours (inject then read; streaming defers classify, injects and commits; an error
 * frame vetoes the write; a non-caching model passes through; a disabled tier is a 400 before
 * the upstream), plus first-byte, disconnect and stream/JSON agreement.
 */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { parsePrompt } from "../../../shared/prompt-cache/markers.ts";
import { prefixHashes } from "../../../shared/prompt-cache/prefix.ts";
import { BUILTIN_TOKENIZER_VERSION, cumulativeTokens } from "../../../shared/prompt-cache/tokenizer.ts";
import { builtinCounter } from "../../../workers/gateway/src/tokenizer.ts";
import { setClassifyDelayForTests } from "../../../workers/gateway/src/prompt-cache.ts";
import { createKey, createModel, createUser } from "../../support/db-fixtures.ts";
import { useTestPool } from "../test-pool.ts";
import { expectError, mockBase, post, sleep, upstreamRequests, usageMessageFor } from "./helpers.ts";

const pool = useTestPool();


afterEach(() => setClassifyDelayForTests(0));

const SYSTEM = "You are a meticulous assistant. ".repeat(120); // ~720 tokens
const EC = (ttl = "5m") => ({ type: "ephemeral", ttl });

interface Usage {
  prompt_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number };
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
  cache_creation?: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number; ephemeral_24h_input_tokens: number };
}

/** A user with a key, and a model that caches (min prefix 100 tokens) on the mock upstream. */
async function cachingSetup(modelName = "mock+count", caching = true) {
  const userId = await createUser(pool);
  const { key } = await createKey(pool, userId);
  const model = await createModel(pool, { url: mockBase(), modelName });
  if (caching) {
    await pool.query(
      `INSERT INTO model_cache_tariffs (deployed_model_id, read_multiplier, write_multiplier_5m, write_multiplier_1h, min_prefix_tokens, valid_from)
       VALUES ($1, 0.1, 1.25, 2.0, 100, now() - interval '1 minute')`,
      [model.modelId],
    );
  }
  return { userId, key, alias: model.alias };
}

function chatBody(alias: string, question: string, extra: Record<string, unknown> = {}) {
  return {
    model: alias,
    messages: [
      { role: "system", content: [{ type: "text", text: SYSTEM, cache_control: EC() }] },
      { role: "user", content: question },
    ],
    ...extra,
  };
}

async function entries(userId: string, alias: string) {
  const { rows } = await pool.query<{ prefix_tokens: number; tier: string; expires_at: Date; last_read_at: Date | null }>(
    "SELECT prefix_tokens, tier, expires_at, last_read_at FROM prompt_cache_entries WHERE principal_id = $1 AND model_alias = $2",
    [userId, alias],
  );
  return rows;
}

async function waitForEntries(userId: string, alias: string, n = 1) {
  for (let i = 0; i < 100; i++) {
    const rows = await entries(userId, alias);
    if (rows.length >= n) return rows;
    await sleep(50);
  }
  throw new Error("the index write was never committed");
}

/** Reads an SSE response; returns the usage chunk's usage and when the first and usage frames arrived. */
async function readStream(res: Response) {
  const started = Date.now();
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let firstAt = -1;
  let usageAt = -1;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (firstAt < 0) firstAt = Date.now() - started;
    text += decoder.decode(value, { stream: true });
    if (usageAt < 0 && text.includes('"usage":{')) usageAt = Date.now() - started;
  }
  const usageLine = text.split("\n").find((l) => l.startsWith("data: {") && l.includes('"usage":{'));
  const usage = usageLine ? (JSON.parse(usageLine.slice(6)) as { usage: Usage }).usage : null;
  return { text, usage, firstAt, usageAt };
}

describe("prompt caching", () => {
  it("injects a write, commits it, then the same prefix is a read", async () => {
    const { userId, key, alias } = await cachingSetup();
    const first = await post("/chat/completions", chatBody(alias, "first question"), key);
    expect(first.status).toBe(200);
    const a = ((await first.json()) as { usage: Usage }).usage;
    expect(a.cache_read_input_tokens).toBe(0);
    expect(a.cache_creation_input_tokens).toBeGreaterThan(600);
    expect(a.cache_creation).toEqual({ ephemeral_5m_input_tokens: a.cache_creation_input_tokens, ephemeral_1h_input_tokens: 0, ephemeral_24h_input_tokens: 0 });
    expect(a.prompt_tokens).toBeGreaterThan(a.cache_creation_input_tokens!); // prompt_tokens stays the full input
    const msgA = await usageMessageFor(first);
    expect(msgA.cache).toEqual({ read_tokens: 0, write_5m_tokens: a.cache_creation_input_tokens, write_1h_tokens: 0, write_24h_tokens: 0 });

    const [entry] = await waitForEntries(userId, alias);
    expect(entry).toMatchObject({ tier: "5m", prefix_tokens: a.cache_creation_input_tokens });

    const second = await post("/chat/completions", chatBody(alias, "a different question"), key);
    const b = ((await second.json()) as { usage: Usage }).usage;
    expect(b.cache_read_input_tokens).toBe(a.cache_creation_input_tokens);
    expect(b.prompt_tokens_details?.cached_tokens).toBe(a.cache_creation_input_tokens);
    expect(b.cache_creation_input_tokens).toBe(0);
    expect((await usageMessageFor(second)).cache.read_tokens).toBe(a.cache_creation_input_tokens);
    // The read slides the entry's expiry.
    for (let i = 0; i < 100 && !(await entries(userId, alias))[0]!.last_read_at; i++) await sleep(50);
    expect((await entries(userId, alias))[0]!.last_read_at).not.toBeNull();

    // Another owner does not read this owner's cache.
    const other = await createKey(pool, await createUser(pool));
    const third = await post("/chat/completions", chatBody(alias, "first question"), other.key);
    expect(((await third.json()) as { usage: Usage }).usage.cache_read_input_tokens).toBe(0);
  });

  it("streaming: classify is joined at the usage frame, injected there, and committed after", async () => {
    const { userId, key, alias } = await cachingSetup();
    const res = await post("/chat/completions", chatBody(alias, "q", { stream: true, stream_options: { include_usage: true } }), key);
    const { usage, text } = await readStream(res);
    expect(text).toContain("[DONE]");
    expect(usage?.cache_creation_input_tokens).toBeGreaterThan(600);
    expect(usage?.cache_read_input_tokens).toBe(0);
    await waitForEntries(userId, alias);
    // Without include_usage the client sees no usage chunk, but billing still gets the split.
    const quiet = await post("/chat/completions", chatBody(alias, "q2", { stream: true }), key);
    expect((await readStream(quiet)).usage).toBeNull();
    expect((await usageMessageFor(quiet)).cache.read_tokens).toBe(usage!.cache_creation_input_tokens);
  });

  it("an error frame vetoes the index write", async () => {
    const { userId, key, alias } = await cachingSetup("mock+count+error_frame");
    const res = await post("/chat/completions", chatBody(alias, "q", { stream: true }), key);
    expect((await readStream(res)).text).toContain('"error"');
    expect(await usageMessageFor(res)).toMatchObject({ truncated: true });
    // Positive control on the same owner and model: a good request's write does land…
    const good = await cachingSetup("mock+count");
    await post("/chat/completions", chatBody(good.alias, "q"), good.key).then((r) => r.arrayBuffer());
    await waitForEntries(good.userId, good.alias);
    // …while the failed one left nothing.
    expect(await entries(userId, alias)).toEqual([]);
  });

  it("a model without caching: markers stripped, provider cache fields scrubbed, nothing indexed", async () => {
    const { userId, key, alias } = await cachingSetup("mock+count", false);
    const marker = crypto.randomUUID();
    const res = await post("/chat/completions", chatBody(alias, marker), key);
    const usage = ((await res.json()) as { usage: Usage }).usage;
    expect(usage.cache_read_input_tokens).toBeUndefined();
    expect(usage.cache_creation_input_tokens).toBeUndefined();
    expect(usage.prompt_tokens_details?.cached_tokens).toBe(0);
    const sent = (await upstreamRequests()).find((r) => JSON.stringify(r.body).includes(marker))!;
    expect(JSON.stringify(sent.body)).not.toContain("cache_control");
    expect((await usageMessageFor(res)).cache).toEqual({ read_tokens: 0, write_5m_tokens: 0, write_1h_tokens: 0, write_24h_tokens: 0 });
    expect(await entries(userId, alias)).toEqual([]);
  });

  it("a disabled tier is a 400 naming the enabled tiers, before the upstream is reached", async () => {
    const { key, alias } = await cachingSetup();
    const marker = crypto.randomUUID();
    const body = { model: alias, messages: [{ role: "user", content: [{ type: "text", text: marker, cache_control: EC("24h") }] }] };
    const err = await expectError(await post("/chat/completions", body, key), 400, "invalid_cache_control");
    expect(err.param).toBe("messages[0].content[0].cache_control");
    expect(err.message).toContain("Enabled cache tiers: 5m, 1h");
    expect((await upstreamRequests()).some((r) => JSON.stringify(r.body).includes(marker))).toBe(false);
  });

  it("a slow classifier never holds the first token; only the usage frame waits", async () => {
    const { key, alias } = await cachingSetup("mock+count");
    setClassifyDelayForTests(1500);
    const res = await post("/chat/completions", chatBody(alias, "q", { stream: true, stream_options: { include_usage: true } }), key);
    const { firstAt, usageAt, usage } = await readStream(res);
    // The delay really applied (the usage frame waited for it)…
    expect(usage?.cache_creation_input_tokens).toBeGreaterThan(0);
    expect(usageAt - firstAt).toBeGreaterThanOrEqual(1000);
    // …and the first frame did not wait for it.
    expect(firstAt).toBeLessThan(usageAt);
  });

  it("a client that disconnects aborts classify and nothing is committed", async () => {
    const { userId, key, alias } = await cachingSetup("mock+count+slow");
    setClassifyDelayForTests(800);
    const res = await post("/chat/completions", chatBody(alias, "q", { stream: true }), key);
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await usageMessageFor(res, 10_000); // the request has fully finished
    setClassifyDelayForTests(0);
    const control = await cachingSetup("mock+count");
    await post("/chat/completions", chatBody(control.alias, "q"), control.key).then((r) => r.arrayBuffer());
    await waitForEntries(control.userId, control.alias);
    expect(await entries(userId, alias)).toEqual([]);
  });

  it("stays exact when another isolate cached a longer prefix this one has not seen", async () => {
    const { userId, key, alias } = await cachingSetup();
    const first = await post("/chat/completions", chatBody(alias, "warm-up"), key);
    const written = ((await first.json()) as { usage: Usage }).usage.cache_creation_input_tokens!;
    await waitForEntries(userId, alias);

    // A two-breakpoint prompt: the system block (known live here) and a longer prefix that only
    // Postgres knows about, as if another isolate had written it.
    const body = {
      model: alias,
      messages: [
        { role: "system", content: [{ type: "text", text: SYSTEM, cache_control: EC() }] },
        { role: "user", content: [{ type: "text", text: "Context: " + "facts and figures ".repeat(60), cache_control: EC() }] },
        { role: "user", content: "question" },
      ],
    };
    const parsed = parsePrompt(body, { enabled: ["5m", "1h"], defaultTtl: "5m" });
    const hashes = await prefixHashes(parsed.blocks);
    const tokens = await cumulativeTokens(parsed.blocks, builtinCounter);
    await pool.query(
      `INSERT INTO prompt_cache_entries (principal_id, model_alias, tokenizer_version, prefix_hash, prefix_tokens, tier, expires_at)
       VALUES ($1, $2, $3, $4, $5, '5m', now() + interval '5 minutes')`,
      [userId, alias, BUILTIN_TOKENIZER_VERSION, hashes[1], tokens[1]],
    );
    const res = await post("/chat/completions", body, key);
    const usage = ((await res.json()) as { usage: Usage }).usage;
    expect(tokens[0]).toBe(written);
    expect(usage.cache_read_input_tokens).toBe(tokens[1]);
    expect(usage.cache_creation_input_tokens).toBe(0);
  });

  it("streamed and JSON responses report the same numbers for the same request", async () => {
    const json = await cachingSetup();
    const streamed = await cachingSetup();
    const a = ((await (await post("/chat/completions", chatBody(json.alias, "same"), json.key)).json()) as { usage: Usage }).usage;
    const b = (await readStream(await post("/chat/completions", chatBody(streamed.alias, "same", { stream: true, stream_options: { include_usage: true } }), streamed.key))).usage!;
    const pick = (u: Usage) => [u.prompt_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens, u.cache_creation, u.prompt_tokens_details?.cached_tokens];
    expect(pick(b)).toEqual(pick(a));
  });

  it("an external tokenizer service counts the prefix, and its version scopes the index", async () => {
    const { userId, key, alias } = await cachingSetup();
    const service = `${env.MOCK_UPSTREAM_URL}/tokenizer/${alias}`;
    await pool.query("UPDATE deployed_models SET tokenizer_url = $1 WHERE alias = $2", [service, alias]);
    const tokenizeCalls = async () => (await upstreamRequests()).filter((r) => r.path === `/tokenizer/${alias}/v1/tokenize`).length;

    const first = ((await (await post("/chat/completions", chatBody(alias, "first question"), key)).json()) as { usage: Usage }).usage;
    // The mock service counts words: the system block is "You are a meticulous assistant. " × 120.
    expect(first.cache_creation_input_tokens).toBe(600);
    const [entry] = await waitForEntries(userId, alias);
    expect(entry).toMatchObject({ prefix_tokens: 600 });
    const { rows } = await pool.query<{ tokenizer_version: string }>("SELECT tokenizer_version FROM prompt_cache_entries WHERE principal_id = $1 AND model_alias = $2", [userId, alias]);
    expect(rows.map((r) => r.tokenizer_version)).toEqual(["mock-words@1"]);

    const second = ((await (await post("/chat/completions", chatBody(alias, "another question"), key)).json()) as { usage: Usage }).usage;
    expect(second.cache_read_input_tokens).toBe(600);
    // The same prompt again is counted from memory: no further call to the service.
    const before = await tokenizeCalls();
    await (await post("/chat/completions", chatBody(alias, "another question"), key)).text();
    expect(await tokenizeCalls()).toBe(before);
  });

  it("a tokenizer service whose counts contradict themselves is not trusted: uncached, never an error", async () => {
    const { userId, key, alias } = await cachingSetup();
    await pool.query("UPDATE deployed_models SET tokenizer_url = $1 WHERE alias = $2", [`${env.MOCK_UPSTREAM_URL}/tokenizer-broken/${alias}`, alias]);
    const res = await post("/chat/completions", chatBody(alias, "q"), key);
    expect(res.status).toBe(200);
    const usage = ((await res.json()) as { usage: Usage }).usage;
    expect([usage.cache_read_input_tokens, usage.cache_creation_input_tokens]).toEqual([0, 0]);
    await sleep(300);
    expect(await entries(userId, alias)).toEqual([]);
  });
});
