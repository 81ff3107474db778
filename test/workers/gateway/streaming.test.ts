/**
 * Streaming through the gateway in workerd: the client gets the upstream's bytes unchanged except
 * the usage chunk; usage is always captured (the gateway forces include_usage upstream); errors
 * and cuts reach the client honestly; a client that leaves still gets its usage recorded.
 */
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { createKey, createModel, createUser, type ModelFixture } from "../../support/db-fixtures.ts";
import { useTestPool } from "../test-pool.ts";
import { mockBase, post, sameBytes, upstreamRequest, usageMessageFor, type Recorded } from "./helpers.ts";

const pool = useTestPool();
let key: string;
let model: ModelFixture;

beforeAll(async () => {
  key = (await createKey(pool, await createUser(pool))).key;
  model = await createModel(pool, { url: mockBase() });
});

async function readAll(res: Response): Promise<Uint8Array> {
  return new Uint8Array(await res.arrayBuffer());
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);

function withoutUsageBlock(sse: string): string {
  return sse
    .split("\n\n")
    .filter((block) => !block.includes('"usage":{'))
    .join("\n\n")
    .replaceAll(',"usage":null', "");
}

/** The upstream's bytes as the client must see them: the alias as the model, nothing else changed. */
const aliased = (sse: string, alias = model.alias, upstreamName = "mock-gpt") => sse.replaceAll(`"model":"${upstreamName}"`, `"model":"${alias}"`);

async function streamChat(body: Record<string, unknown>, alias = model.alias) {
  const marker = crypto.randomUUID();
  const res = await post("/chat/completions", { model: alias, stream: true, messages: [{ role: "user", content: marker }], ...body }, key);
  return { res, upstream: () => upstreamRequest((r: Recorded) => JSON.stringify(r.body).includes(marker)) };
}

describe("SSE relay", () => {
  it("without include_usage: the upstream is asked for usage, the client gets every byte but the usage chunk", async () => {
    const { res, upstream } = await streamChat({});
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const received = await readAll(res);
    const sent = await upstream();
    expect((sent.body.stream_options as { include_usage: boolean }).include_usage).toBe(true);
    expect(sent.response).toContain('"usage":{');
    expect(sent.response).toContain('"usage":null');
    expect(sameBytes(received, bytes(aliased(withoutUsageBlock(sent.response))))).toBe(true);
    expect(text(received)).not.toContain('"usage"');
    expect(text(received)).not.toContain("mock-gpt");
    expect(text(received)).toContain("data: [DONE]");

    const msg = await usageMessageFor(res);
    expect(msg).toMatchObject({
      usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 },
      response_type: "stream",
      finish_reason: "stop",
      truncated: false,
      served_model: "mock-gpt",
    });
  });

  it("with include_usage: byte-identical to what the upstream sent but for the model's name", async () => {
    const { res, upstream } = await streamChat({ stream_options: { include_usage: true } });
    const received = await readAll(res);
    const sent = await upstream();
    expect(sameBytes(received, bytes(aliased(sent.response)))).toBe(true);
    expect(text(received)).toContain('"usage":null');
    expect((await usageMessageFor(res)).usage.completion_tokens).toBe(9);
  });

  it("completions and responses streams are metered", async () => {
    const completions = await post("/completions", { model: model.alias, prompt: "x", stream: true }, key);
    expect(text(await readAll(completions))).toContain('"object":"text_completion"');
    expect(await usageMessageFor(completions)).toMatchObject({ usage: { prompt_tokens: 12, completion_tokens: 9 }, response_type: "stream", truncated: false });

    const responses = await post("/responses", { model: model.alias, input: "x", stream: true }, key);
    const body = text(await readAll(responses));
    expect(body).toContain("event: response.completed");
    expect(await usageMessageFor(responses)).toMatchObject({ usage: { prompt_tokens: 12, completion_tokens: 9 }, finish_reason: "completed", truncated: false });
  });

  it("an upstream error frame reaches the client unchanged, with no invented [DONE], and is flagged", async () => {
    const failing = await createModel(pool, { url: mockBase(), modelName: "mock+error_frame" });
    const { res, upstream } = await streamChat({}, failing.alias);
    const received = text(await readAll(res));
    expect(received).toBe(aliased(withoutUsageBlock((await upstream()).response), failing.alias, "mock+error_frame"));
    expect(received).toContain('"error"');
    expect(received).not.toContain("[DONE]");
    expect(await usageMessageFor(res)).toMatchObject({ response_type: "stream_error", truncated: true });
  });

  it("a stream the upstream cuts breaks for the client too and is recorded as truncated", async () => {
    const cutting = await createModel(pool, { url: mockBase(), modelName: "mock+cut_stream" });
    const { res } = await streamChat({}, cutting.alias);
    expect(res.status).toBe(200);
    const outcome = await res.text().then(
      (t) => ({ ok: true as const, t }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    if (outcome.ok) expect(outcome.t).not.toContain("[DONE]");
    expect(await usageMessageFor(res)).toMatchObject({ truncated: true, response_type: "stream" });
  });

  it("a stream the upstream stalls is broken after UPSTREAM_STREAM_IDLE_MS of silence and recorded as truncated", async () => {
    const idleMs = Number(env.UPSTREAM_STREAM_IDLE_MS);
    const stalling = await createModel(pool, { url: mockBase(), modelName: "mock+stall" });
    const started = Date.now();
    const { res } = await streamChat({}, stalling.alias);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let seen = "";
    const outcome = await (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return "ended";
        seen += text(value);
      }
    })().catch(() => "broken");
    const elapsed = Date.now() - started;
    expect(seen).toContain("Hello"); // what came before the silence was relayed
    expect(seen).not.toContain("[DONE]");
    expect(outcome).toBe("broken");
    expect(elapsed).toBeGreaterThanOrEqual(idleMs);
    expect(elapsed).toBeLessThan(idleMs + 2000);
    expect(await usageMessageFor(res)).toMatchObject({ truncated: true, response_type: "stream" });
  });

  it("tokens are forwarded as they arrive, not after the upstream finishes", async () => {
    const slow = await createModel(pool, { url: mockBase(), modelName: "mock+slow" });
    const { res, upstream } = await streamChat({}, slow.alias);
    const reader = res.body!.getReader();
    let seen = "";
    while (!seen.includes("word1")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("stream ended early");
      seen += text(value);
    }
    // The client already has content while the upstream is still writing (20 frames, 100 ms apart).
    expect((await upstream()).response).not.toContain("[DONE]");
    await reader.cancel();
  });

  it("a stream that outlives UPSTREAM_TIMEOUT_MS is not cut (the timeout bounds the wait for an answer)", async () => {
    expect(Number(env.UPSTREAM_TIMEOUT_MS)).toBeLessThan(3000);
    const long = await createModel(pool, { url: mockBase(), modelName: "mock+long" }); // ~3 s of frames
    const { res } = await streamChat({}, long.alias);
    const body = text(await readAll(res));
    expect(body).toContain("word29");
    expect(body).toContain("[DONE]");
    expect(await usageMessageFor(res)).toMatchObject({ truncated: false, usage: { completion_tokens: 9 } });
  });

  it("a client that disconnects mid-stream from a `drain` model still has its full usage recorded", async () => {
    const slow = await createModel(pool, { url: mockBase(), modelName: "mock+slow" });
    await pool.query("UPDATE deployed_models SET on_client_disconnect = 'drain' WHERE alias = $1", [slow.alias]);
    const { res } = await streamChat({}, slow.alias);
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    const msg = await usageMessageFor(res, 10_000);
    expect(msg.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 9 });
    expect(msg.truncated).toBe(false);
    expect(msg.client_disconnected).toBe(true);
    expect(msg.usage_source).toBe("upstream");
  });
});
