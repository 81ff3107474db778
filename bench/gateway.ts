/**
 * `npm run bench:gateway` — what the gateway costs, measured side by side in one run, against the
 * bare runtime and against a peer gateway.
 *
 * Paths (each worker in its own workerd via Miniflare, no `wrangler dev` proxy in front, each on
 * a socket of its own, every one with `stripCfConnectingIp: false` so outbound fetches go
 * straight out rather than through Miniflare's extra JavaScript worker):
 *   direct           the mock upstream, called straight from this process
 *   floor            a minimal worker: fetch the upstream and return its response (JSON and streams)
 *   editing-relay    (streams) the cheapest relay that does what ours must: a BYOB read loop into
 *                    a reused 64 KiB buffer, a byte scan for event boundaries and `"usage"`, the
 *                    model name edited in the bytes, the usage-only event dropped, writes into an
 *                    IdentityTransformStream (EDITING_RELAY_SCRIPT): the runtime's limit
 *   gateway          the real gateway bundle (as `wrangler deploy` builds it) with metering on:
 *                    key/model/access from warm per-isolate caches, one usage message per request
 *                    to the queue (sent in bundles), the SSE relay for streams
 *   gateway-limited  the same gateway with a rate-limited key (a limit it never reaches)
 *   composite        the same gateway, a composite alias (priority) whose first component — the
 *                    plain alias's own model — answers: what routing over components costs
 *   bare-gateway     (JSON throughput) only the steps no gateway can skip, with constants for its
 *                    key and model (bareGatewayScript): the ceiling for the gateway's throughput
 *   bare-relay       (time to first byte) the bare gateway relaying streams as the editing relay
 *                    does, with the headers the API promises both ways and an idle watchdog: the
 *                    least a gateway that authenticates, edits its streams and keeps its contract adds
 *   portkey          the peer: `@portkey-ai/gateway` from npm on Node, started by its own bin, as
 *                    an OpenAI provider with a custom host (the same mock)
 *
 * Latency: interleaved requests (each round runs every path once, in shuffled order), instant
 * upstream. Time to first byte: the same, with a realistic stream (50 ms to the first frame,
 * 20 frames). Throughput: pairs of paths in alternating fixed windows at a fixed concurrency,
 * with each process's CPU time (from /proc) per request over its windows.
 *
 * Cache layer: the same long prompt with a cache_control marker sent to a model with a cache
 * tariff (index warm) against the same prompt to the same upstream on a model without one.
 *
 * Environment: DATABASE_URL (else embedded Postgres), BENCH_ROUNDS (default 1500),
 * BENCH_TTFB_ROUNDS (100), BENCH_WINDOWS (5 per path and pair), BENCH_WINDOW_MS (1000),
 * BENCH_CONCURRENCY (16), BENCH_IDLE_MS (0: a pause before each interleaved request, so every
 * subject is measured as a quiet gateway serves, from idle); BENCH_PROFILE (a path prefix:
 * profile instead, see profile());
 * BENCH_ONLY=streams (only floor, editing relay and gateway on streams, rotating windows), =json
 * (only floor, bare gateway and gateway on JSON), =latency (only JSON added latency, interleaved),
 * =ttfb (only time to first byte and to headers, interleaved), =ratelimit (only the rate-limited
 * key against the unlimited one), with BENCH_BASELINE_DIR (other checkouts, comma-separated,
 * whose gateways run beside this one: before/after). Loopback only; stops by itself.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import pg from "pg";
import { startEmbeddedPostgres } from "../dev/embedded-postgres.ts";
import { migrate } from "../dev/migrate.ts";
import { seedDemo } from "../dev/seed.ts";
import { buildConsole, freePort, ROOT } from "../dev/stack.ts";
import { putTokenizerRanks } from "../dev/tokenizer-ranks.ts";
import { buildBundle } from "./workerd.ts";
import { childPids, cpuMicros, startMock } from "./processes.ts";
import { EDITING_PUMP, EDITING_RELAY_SCRIPT, FLOOR_SCRIPT } from "./relay-scripts.ts";
import { EXPOSED_HEADERS, FORWARDED_HEADERS, PASSED_UPSTREAM_HEADERS, PASSED_UPSTREAM_PREFIX } from "../shared/passed-headers.ts";
import { startWsBridge } from "../dev/ws-bridge.ts";
import { generateEncryptionKey } from "../shared/secret-box.ts";

const num = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const ROUNDS = num("BENCH_ROUNDS", 1500);
const TTFB_ROUNDS = num("BENCH_TTFB_ROUNDS", 100);
const WINDOWS = num("BENCH_WINDOWS", 5);
const WINDOW_MS = num("BENCH_WINDOW_MS", 1000);
const CONCURRENCY = num("BENCH_CONCURRENCY", 16);
const IDLE_MS = num("BENCH_IDLE_MS", 0);
const COMPAT_DATE = "2026-04-20";
/** BENCH_PROFILE=<path prefix>: instead of the comparison, profile each worker under load (see profile()). */
const PROFILE = process.env.BENCH_PROFILE;
/**
 * BENCH_ONLY=streams, =json: only the stream (JSON) throughput, in rotating windows (and, with
 * BENCH_BASELINE_DIR, the baseline gateways beside this one); =latency: only JSON added latency;
 * =ttfb: only time to first byte; =ratelimit: only the rate-limited key's pair.
 */
const ONLY = process.env.BENCH_ONLY;
/** BENCH_BASELINE_DIR=<checkouts of this repository, comma-separated>: also run their gateways, for before/after in one run. */
const BASELINE_DIRS = process.env.BENCH_BASELINE_DIR?.split(",").filter(Boolean) ?? [];

const log = (msg: string) => console.error(`· ${msg}`);

/** The mock upstream's answers: JSON (instant), a realistic stream (50 ms to the first of 20 frames), a stream under load (instant). */
const JSON_MOCK = { ttfbMs: 0, frames: 3, frameIntervalMs: 0 };
const STREAM_MOCK = { ttfbMs: 50, frames: 20, frameIntervalMs: 2 };
const STREAM_LOAD_MOCK = { ttfbMs: 0, frames: 20, frameIntervalMs: 0 };

// ---------------------------------------------------------------------------------------------
// HTTP client: node:http with keep-alive, timing to first body byte and to the end.

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2 });

interface Timing {
  status: number;
  ttfbMs: number;
  totalMs: number;
  /** Time to the response's status line and headers. */
  headersMs: number;
}

interface Target {
  name: string;
  url: string;
  /** The process that serves it (its CPU time is read from /proc). */
  pid?: number;
  headers: Record<string, string>;
  model: string;
  /** Messages to send instead of the short default. */
  messages?: unknown[];
}

function call(target: Target, stream: boolean): Promise<Timing> {
  const messages = target.messages ?? [{ role: "user", content: "Hello there" }];
  const body = JSON.stringify({ model: target.model, messages, ...(stream ? { stream: true } : {}) });
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let ttfb = -1;
    const req = request(
      target.url,
      { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...target.headers } },
      (res) => {
        const headersMs = performance.now() - started;
        res.on("data", () => {
          if (ttfb < 0) ttfb = performance.now() - started;
        });
        res.on("end", () => {
          const total = performance.now() - started;
          resolve({ status: res.statusCode ?? 0, ttfbMs: ttfb < 0 ? total : ttfb, totalMs: total, headersMs });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function checked(target: Target, stream: boolean): Promise<Timing> {
  const t = await call(target, stream);
  if (t.status !== 200) throw new Error(`${target.name} answered ${t.status}`);
  return t;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function shuffle<T>(items: T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Interleaved rounds: every path once per round, in shuffled order. */
async function interleaved(targets: Target[], rounds: number, stream: boolean): Promise<Map<string, Timing[]>> {
  const out = new Map(targets.map((t) => [t.name, [] as Timing[]]));
  for (let i = 0; i < rounds; i++) {
    for (const t of shuffle(targets)) {
      if (IDLE_MS > 0) await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
      out.get(t.name)!.push(await checked(t, stream));
    }
  }
  return out;
}

/** Closed-loop load at CONCURRENCY for `ms`; returns completed requests. */
async function windowLoad(target: Target, ms: number, stream: boolean): Promise<number> {
  const deadline = performance.now() + ms;
  let done = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        await checked(target, stream);
        done++;
      }
    }),
  );
  return done;
}

interface Throughput {
  rps: number;
  /** CPU time of the serving process per request, in µs (NaN without a pid). */
  cpuUs: number;
}

/**
 * Alternating windows, every path once per round with the order rotating from round to round (a b c,
 * b c a, c a b, …); returns requests per second and CPU per request for each path.
 */
async function alternating(targets: Target[], stream: boolean, windows = WINDOWS): Promise<Throughput[]> {
  const done = targets.map(() => 0);
  const cpu = targets.map(() => 0);
  for (const t of targets) await windowLoad(t, 300, stream); // warm every path
  for (let w = 0; w < windows; w++) {
    for (let k = 0; k < targets.length; k++) {
      const i = (w + k) % targets.length;
      const pid = targets[i]!.pid;
      const before = pid ? cpuMicros(pid) : 0;
      done[i]! += await windowLoad(targets[i]!, WINDOW_MS, stream);
      cpu[i]! += pid ? cpuMicros(pid) - before : Number.NaN;
    }
  }
  const seconds = (windows * WINDOW_MS) / 1000;
  return done.map((n, i) => ({ rps: n / seconds, cpuUs: cpu[i]! / n }));
}

// ---------------------------------------------------------------------------------------------
// Setup

/**
 * The bare gateway: only the steps no gateway can skip on a JSON request, with no framework, no
 * validation, no database and no rate limiting (its key and model are constants). Read and parse
 * the body, hash the key and look it up, swap the model name, fetch under a timeout, read and
 * parse the answer, swap the name back, answer, and keep one usage record for a queue message sent
 * per 25 ms (as the real outbox does). Its throughput is the ceiling for the real gateway's on this
 * machine: the distance to it is what our code costs beyond the unavoidable. Its added latency and
 * time to first byte are what a gateway doing only those steps adds: a stream's body is passed on
 * untouched (no relay at all, cheaper than any gateway that meters), so its time to first byte is
 * that work before the upstream call and nothing after it.
 *
 * The bare relay (`bareGatewayScript("relay")`) is the same worker relaying a stream the way the
 * editing relay does (EDITING_PUMP: the usage chunk forced on and dropped again, the model renamed
 * in the bytes), and doing what Tollgate's API promises on the way to the first byte: the client's
 * allow-listed headers and the endpoint's credential sent upstream (proxy.ts), and on the answer
 * the upstream's passed headers (its request id and rate-limit headers, which the SDKs read), CORS
 * for browser clients and the event id (headers.ts, meter.ts); one idle watchdog timer per stream
 * (stream.ts: a dead upstream must not hang the client). Its time to first byte is the least a
 * gateway that authenticates, edits its streams (issue #15) and keeps that contract adds on this
 * machine. (No usage record for a stream: that comes after the stream's end, off the first byte's
 * path. The JSON path stays the bare gateway's minimum, as the throughput and latency rows have
 * always measured it.)
 */
const bareGatewayScript = (streams: "pass" | "relay") => `
import { createHash } from "node:crypto";
${
  streams === "relay"
    ? `${EDITING_PUMP}
const FORWARDED = ${JSON.stringify(FORWARDED_HEADERS)};
const PASSED = new Set(${JSON.stringify([...PASSED_UPSTREAM_HEADERS])});
const PASSED_PREFIX = ${JSON.stringify(PASSED_UPSTREAM_PREFIX)};
const EXPOSED = ${JSON.stringify(EXPOSED_HEADERS.join(","))};`
    : ""
}
const models = new Map([["demo-model", "mock-gpt"]]);
const keys = new Map();
const outbox = [];
let flushing = false;
export default {
  async fetch(request, env, ctx) {
    const startedAt = Date.now();
    const eventId = crypto.randomUUID();
    const body = await request.json();
    const token = (request.headers.get("authorization") ?? "").slice(7);
    const hash = createHash("sha256").update(token).digest("hex");
    if (!keys.has(hash)) keys.set(hash, { id: hash.slice(0, 8) });
    const upstreamModel = models.get(body.model);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 600000);
    const headers = { "content-type": "application/json" };${
      streams === "relay"
        ? `
    for (const name of FORWARDED) {
      const value = request.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    headers.authorization = "Bearer " + env.UPSTREAM_KEY;`
        : ""
    }
    const upstream = await fetch(env.UPSTREAM + "/v1/chat/completions", {
      method: "POST",
      headers,
      body: JSON.stringify(${streams === "relay" ? "body.stream === true ? { ...body, model: upstreamModel, stream_options: { include_usage: true } } : " : ""}{ ...body, model: upstreamModel }),
      signal: controller.signal,
    });
    if (body.stream === true) {
      clearTimeout(timer);${
        streams === "relay"
          ? `
      const { readable, writable } = new IdentityTransformStream();
      const reader = upstream.body.getReader({ mode: "byob" });
      const watchdog = setTimeout(() => reader.cancel(new Error("the upstream went quiet")), 120000);
      ctx.waitUntil(pump(reader, writable.getWriter(), enc.encode(body.model)).finally(() => clearTimeout(watchdog)));
      const answer = { "content-type": upstream.headers.get("content-type") ?? "text/event-stream", "cache-control": "no-cache",
        "access-control-allow-origin": "*", "access-control-expose-headers": EXPOSED, vary: "Origin", "x-tollgate-event-id": eventId };
      upstream.headers.forEach((value, name) => {
        if ((PASSED.has(name) || name.startsWith(PASSED_PREFIX)) && !(name in answer)) answer[name] = value;
      });
      return new Response(readable, { status: upstream.status, headers: answer });`
          : `
      return new Response(upstream.body, { status: upstream.status, headers: { "content-type": upstream.headers.get("content-type") } });`
      }
    }
    const payload = JSON.parse(await upstream.text());
    clearTimeout(timer);
    payload.model = body.model;
    const response = new Response(JSON.stringify(payload), { status: upstream.status, headers: { "content-type": "application/json" } });
    outbox.push({ v: 1, event_id: eventId, timestamp: new Date(startedAt).toISOString(), api_key_id: keys.get(hash).id, model: body.model,
      served_model: upstreamModel, status_code: upstream.status, duration_ms: Date.now() - startedAt, usage: payload.usage,
      user_agent: request.headers.get("user-agent") });
    if (!flushing) {
      flushing = true;
      ctx.waitUntil(new Promise((r) => setTimeout(r, 25)).then(() => {
        flushing = false;
        return env.USAGE_QUEUE.send({ kind: "usage_bundle", v: 1, messages: outbox.splice(0) }, { contentType: "json" });
      }));
    }
    return response;
  },
};`;

async function main(): Promise<void> {
  const cleanups: (() => Promise<unknown> | void)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await Promise.resolve(fn()).catch(() => undefined);
  };
  process.on("SIGINT", () => void cleanup().then(() => process.exit(130)));

  try {
    if (!existsSync(join(ROOT, "web/dist"))) {
      // wrangler.toml's [assets] directory must exist for the bundle to build.
      log("building the console (web/dist), which the gateway's wrangler.toml serves");
      await buildConsole();
    }
    log("building the gateway bundle (wrangler deploy --dry-run)");
    const outDir = mkdtempSync(join(tmpdir(), "tollgate-bench-"));
    cleanups.push(() => rmSync(outDir, { recursive: true, force: true }));
    // A profile names functions only in an unminified bundle.
    buildBundle(join(ROOT, "wrangler.toml"), outDir, !PROFILE);

    log("starting the mock upstream (own process)");
    const mock = await startMock([join(ROOT, "bench/mock-server.ts")]);
    cleanups.push(mock.kill);
    const mockUrl = mock.url;
    const mockConfig = async (o: Record<string, unknown>) => {
      await fetch(`${mockUrl}/__mock/config`, { method: "POST", body: JSON.stringify(o) });
    };

    log(process.env.DATABASE_URL ? "using DATABASE_URL" : "starting embedded Postgres");
    let databaseUrl = process.env.DATABASE_URL;
    if (!databaseUrl) {
      const pg = await startEmbeddedPostgres();
      cleanups.push(() => pg.close());
      databaseUrl = pg.databaseUrl;
    }
    await migrate(databaseUrl);
    const bridge = await startWsBridge();
    cleanups.push(() => bridge.close());
    const encryptionKey = generateEncryptionKey();

    log("starting workers in workerd (Miniflare)");
    const ADMIN_TOKEN = "bench-admin-token-0123456789";
    // Each worker is reached on a socket of its own (`unsafeDirectSockets`), not through
    // Miniflare's entry worker: that is one more JavaScript hop per request that production does
    // not have (measured here: it halves the floor's throughput), and it would be counted in the
    // floor and the gateway alike. `stripCfConnectingIp: false`: otherwise Miniflare sends every
    // outbound fetch through one more JavaScript worker of its own (+16-22% CPU on every path).
    const base = {
      modules: true,
      compatibilityDate: COMPAT_DATE,
      compatibilityFlags: ["nodejs_compat"],
      host: "127.0.0.1",
      port: 0,
      unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
      stripCfConnectingIp: false,
    };
    const inspect = PROFILE ? { inspectorPort: 0 } : {};
    /** Starts one Miniflare and finds its workerd process (the child that appeared with it). */
    const start = async (options: ConstructorParameters<typeof Miniflare>[0]) => {
      const before = new Set(childPids());
      const mf = new Miniflare(options);
      cleanups.push(() => mf.dispose());
      await mf.ready;
      const pid = childPids().find((p) => !before.has(p));
      return { mf, url: await mf.unsafeGetDirectURL(), pid };
    };
    const gatewayOptions = (dir: string) => ({
      ...base,
      ...inspect,
      scriptPath: join(dir, "index.js"),
      modulesRoot: dir,
      bindings: {
        DATABASE_URL: databaseUrl,
        NEON_WS_PROXY: bridge.proxy,
        NEON_INSECURE_WEBSOCKET: "true",
        ADMIN_TOKEN,
        ENCRYPTION_KEY: encryptionKey,
        MAX_BODY_BYTES: "10485760",
        UPSTREAM_TIMEOUT_MS: "600000",
        ACCESS_CACHE_TTL_MS: "2000",
      },
      queueProducers: { USAGE_QUEUE: "tollgate-usage" },
      durableObjects: { RATE_LIMITER: "RateLimiter", CONCURRENCY_LIMITER: "ConcurrencyLimiter" },
      r2Buckets: { TOKENIZERS: "tollgate-tokenizers" },
    });
    const gw = await start(gatewayOptions(outDir));
    await putTokenizerRanks(gw.mf);
    // BENCH_BASELINE_DIR: another checkout's gateway (same database, same load), beside this one.
    const gwBaselines: Awaited<ReturnType<typeof start>>[] = [];
    for (const BASELINE_DIR of BASELINE_DIRS) {
      log(`building the baseline gateway bundle from ${BASELINE_DIR}`);
      const baselineOut = mkdtempSync(join(tmpdir(), "tollgate-bench-baseline-"));
      cleanups.push(() => rmSync(baselineOut, { recursive: true, force: true }));
      mkdirSync(join(BASELINE_DIR, "web", "dist"), { recursive: true });
      buildBundle(join(BASELINE_DIR, "wrangler.toml"), baselineOut, !PROFILE);
      const gwBaseline = await start(gatewayOptions(baselineOut));
      await putTokenizerRanks(gwBaseline.mf);
      gwBaselines.push(gwBaseline);
    }
    const fl = await start({ ...base, ...inspect, script: FLOOR_SCRIPT, bindings: { UPSTREAM: mockUrl } });
    const relay = await start({ ...base, ...inspect, script: EDITING_RELAY_SCRIPT, bindings: { UPSTREAM: mockUrl } });
    const bare = await start({ ...base, script: bareGatewayScript("pass"), bindings: { UPSTREAM: mockUrl }, queueProducers: { USAGE_QUEUE: "bare-usage" } });
    const bareRelayWorker = await start({ ...base, script: bareGatewayScript("relay"), bindings: { UPSTREAM: mockUrl, UPSTREAM_KEY: "sk-bench-upstream-credential" }, queueProducers: { USAGE_QUEUE: "bare-relay-usage" } });

    log("starting the peer: @portkey-ai/gateway from npm, on Node, by its own bin");
    const peerPort = await freePort();
    const peerProc = spawn(
      process.execPath,
      ["--import", join(ROOT, "bench/peer-preload.mjs"), join(ROOT, "node_modules/@portkey-ai/gateway/build/start-server.js"), `--port=${peerPort}`, "--headless"],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
    cleanups.push(() => void peerProc.kill("SIGTERM"));
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    for (let i = 0; ; i++) {
      if (await fetch(peerUrl).then((r) => r.ok, () => false)) break;
      if (i > 100 || peerProc.exitCode !== null) throw new Error("the peer gateway did not start");
      await new Promise((r) => setTimeout(r, 100));
    }

    // The endpoint has a credential, as a hosted provider's does: the gateway sends it on every call.
    const seed = await seedDemo({ gatewayUrl: gw.url.origin, adminToken: ADMIN_TOKEN, upstreamBaseUrl: `${mockUrl}/v1`, upstreamModel: "mock-gpt", upstreamApiKey: "sk-bench-upstream-credential" });
    // A second key on the same owner with a rate limit it never reaches: what limiting costs.
    const limitedKey = (await (
      await fetch(new URL(`/admin/api/v1/users/${seed.userId}/api-keys`, gw.url), {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "bench limited", purpose: "realtime" }),
      })
    ).json()) as { id: string; key: string };
    // Two more models on the same upstream, both reporting realistic prompt sizes (the mock's
    // `count` mode): one with a cache tariff (cache layer on), one without (off).
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    await db.query("UPDATE api_keys SET requests_per_second = 1000000, burst_size = 1000000 WHERE id = $1", [limitedKey.id]);
    for (const [alias, cached] of [["bench-cache-on", true], ["bench-cache-off", false]] as const) {
      const { rows } = await db.query<{ id: string }>(
        `INSERT INTO deployed_models (model_name, alias, hosted_on)
         SELECT 'mock-gpt+count', $1, hosted_on FROM deployed_models WHERE alias = 'demo-model'
         ON CONFLICT (alias) DO UPDATE SET updated_at = now() RETURNING id`,
        [alias],
      );
      const id = rows[0]!.id;
      await db.query("INSERT INTO deployment_groups (deployment_id, group_id) VALUES ($1, '00000000-0000-0000-0000-000000000000') ON CONFLICT DO NOTHING", [id]);
      if (cached) {
        await db.query(
          `INSERT INTO model_cache_tariffs (deployed_model_id, min_prefix_tokens, write_multiplier_5m)
           SELECT $1, 256, 1.25 WHERE NOT EXISTS (SELECT 1 FROM model_cache_tariffs WHERE deployed_model_id = $1 AND valid_until IS NULL)`,
          [id],
        );
      }
    }
    // A composite alias over the demo model (first, answers) and the cache-off model (never reached).
    {
      const { rows } = await db.query<{ id: string }>(
        `INSERT INTO deployed_models (alias, is_composite, lb_strategy) VALUES ('bench-composite', true, 'priority')
         ON CONFLICT (alias) DO UPDATE SET updated_at = now() RETURNING id`,
      );
      const id = rows[0]!.id;
      await db.query("INSERT INTO deployment_groups (deployment_id, group_id) VALUES ($1, '00000000-0000-0000-0000-000000000000') ON CONFLICT DO NOTHING", [id]);
      await db.query(
        `INSERT INTO deployed_model_components (composite_model_id, deployed_model_id, sort_order)
         SELECT $1, dm.id, CASE dm.alias WHEN 'demo-model' THEN 0 ELSE 1 END FROM deployed_models dm WHERE dm.alias IN ('demo-model', 'bench-cache-off')
         ON CONFLICT DO NOTHING`,
        [id],
      );
      // Priced like the demo model, so both paths do the same metering work.
      await db.query(
        `INSERT INTO model_tariffs (deployed_model_id, api_key_purpose, input_price_per_token, output_price_per_token)
         SELECT $1, t.api_key_purpose, t.input_price_per_token, t.output_price_per_token FROM model_tariffs t
           JOIN deployed_models dm ON dm.id = t.deployed_model_id WHERE dm.alias = 'demo-model' AND t.valid_until IS NULL
         ON CONFLICT DO NOTHING`,
        [id],
      );
    }
    await db.end();

    const path = "/ai/v1/chat/completions";
    const auth = { authorization: `Bearer ${seed.apiKey}` };
    const direct: Target = { name: "direct", url: `${mockUrl}/v1/chat/completions`, headers: {}, model: "mock-gpt" };
    const floor: Target = { name: "floor", url: new URL(path, fl.url).toString(), pid: fl.pid, headers: {}, model: "mock-gpt" };
    const editingRelay: Target = { name: "editing-relay", url: new URL(path, relay.url).toString(), pid: relay.pid, headers: {}, model: "demo-model" };
    const gateway: Target = { name: "gateway", url: new URL(path, gw.url).toString(), pid: gw.pid, headers: auth, model: "demo-model" };
    const limited: Target = { ...gateway, name: "gateway-limited", headers: { authorization: `Bearer ${limitedKey.key}` } };
    const composite: Target = { ...gateway, name: "composite", model: "bench-composite" };
    const bareGateway: Target = { name: "bare-gateway", url: new URL(path, bare.url).toString(), pid: bare.pid, headers: auth, model: "demo-model" };
    const bareRelay: Target = { name: "bare-relay", url: new URL(path, bareRelayWorker.url).toString(), pid: bareRelayWorker.pid, headers: auth, model: "demo-model" };
    const portkey: Target = {
      name: "portkey",
      url: `${peerUrl}/v1/chat/completions`,
      pid: peerProc.pid,
      headers: { "x-portkey-provider": "openai", "x-portkey-custom-host": `${mockUrl}/v1`, authorization: "Bearer sk-bench" },
      model: "mock-gpt",
    };
    const longPrompt = (marker: boolean) => [
      { role: "system", content: [{ type: "text", text: "You are a careful assistant for a billing platform. ".repeat(80), ...(marker ? { cache_control: { type: "ephemeral" } } : {}) }] },
      { role: "user", content: "How do prompt caches work?" },
    ];
    const cacheOff: Target = { ...gateway, name: "cache-off", messages: longPrompt(true), model: "bench-cache-off" };
    const cacheOn: Target = { ...gateway, name: "cache-on", messages: longPrompt(true), model: "bench-cache-on" };

    // BENCH_BASELINE_DIR's gateways, as paths beside this one (the BENCH_ONLY modes run them).
    const baselines: Target[] = gwBaselines.map((b, i) => ({
      ...gateway,
      name: gwBaselines.length > 1 ? `gateway-baseline-${i + 1}` : "gateway-baseline",
      url: new URL(path, b.url).toString(),
      pid: b.pid,
    }));

    if (ONLY === "streams" || ONLY === "json") {
      const streams = ONLY === "streams";
      await mockConfig(streams ? STREAM_LOAD_MOCK : JSON_MOCK);
      const targets = [...(streams ? [floor, editingRelay, gateway] : [floor, bareGateway, gateway]), ...baselines];
      log(`${streams ? "streams only (20 frames)" : "JSON only"}: ${targets.map((t) => t.name).join(", ")}, ${WINDOWS} rotating ${WINDOW_MS} ms windows each, concurrency ${CONCURRENCY}; load ${readFileSync("/proc/loadavg", "utf8").trim()}`);
      const results = await alternating(targets, streams);
      console.log(`load after: ${readFileSync("/proc/loadavg", "utf8").trim()}`);
      for (let i = 0; i < targets.length; i++) {
        const r = results[i]!;
        console.log(`  ${targets[i]!.name.padEnd(18)} ${r.rps.toFixed(0).padStart(7)} req/s ${r.cpuUs.toFixed(0).padStart(7)} CPU µs/request  ×${(r.rps / results[0]!.rps).toFixed(2)} floor req/s, ×${(r.cpuUs / results[0]!.cpuUs).toFixed(2)} floor CPU`);
      }
      return;
    }

    if (ONLY === "ratelimit") {
      // JSON throughput on an unlimited key and on a rate-limited one, in rotating windows.
      await mockConfig(JSON_MOCK);
      const [free, capped] = await alternating([gateway, limited], false, 2 * WINDOWS);
      console.log(`  gateway ${free!.rps.toFixed(0)} req/s ${free!.cpuUs.toFixed(0)} CPU µs; gateway-limited ${capped!.rps.toFixed(0)} req/s ${capped!.cpuUs.toFixed(0)} CPU µs: ×${(capped!.rps / free!.rps).toFixed(2)} req/s, ×${(capped!.cpuUs / free!.cpuUs).toFixed(2)} CPU`);
      return;
    }

    if (ONLY === "latency") {
      // Added latency only (JSON, instant upstream), interleaved: what overhead_vs_floor measures.
      await mockConfig(JSON_MOCK);
      const targets = [direct, floor, bareGateway, gateway, ...baselines];
      await interleaved(targets, 200, false);
      const lat = await interleaved(targets, ROUNDS, false);
      const p50 = (name: string) => percentile(lat.get(name)!.map((t) => t.totalMs), 50);
      for (const t of targets.slice(1)) {
        const added = p50(t.name) - p50("direct");
        console.log(`  ${t.name.padEnd(18)} added p50 ${added.toFixed(3)} ms  ×${(added / (p50("floor") - p50("direct"))).toFixed(2)} floor`);
      }
      return;
    }

    if (ONLY === "ttfb") {
      // Time to first byte only: the stream's first byte through each path, interleaved.
      await mockConfig(STREAM_MOCK);
      const targets = [direct, floor, editingRelay, bareGateway, bareRelay, gateway, ...baselines];
      await interleaved(targets, 10, true);
      const firstBytes = await interleaved(targets, TTFB_ROUNDS, true);
      const p50 = (name: string) => percentile(firstBytes.get(name)!.map((t) => t.ttfbMs), 50);
      for (const t of targets.slice(1)) {
        const added = p50(t.name) - p50("direct");
        const headers = percentile(firstBytes.get(t.name)!.map((x) => x.headersMs), 50) - percentile(firstBytes.get("direct")!.map((x) => x.headersMs), 50);
        console.log(`  ${t.name.padEnd(18)} ttfb added p50 ${added.toFixed(3)} ms  ×${(added / (p50("floor") - p50("direct"))).toFixed(2)} floor; headers added p50 ${headers.toFixed(3)} ms`);
      }
      return;
    }

    if (PROFILE) {
      await profile(fl.mf, floor, false, JSON_MOCK, mockConfig, `${PROFILE}-floor-json`);
      await profile(gw.mf, gateway, false, JSON_MOCK, mockConfig, `${PROFILE}-gateway-json`);
      await profile(gw.mf, limited, false, JSON_MOCK, mockConfig, `${PROFILE}-gateway-limited-json`);
      await profile(fl.mf, floor, true, STREAM_LOAD_MOCK, mockConfig, `${PROFILE}-floor-stream`);
      await profile(relay.mf, editingRelay, true, STREAM_LOAD_MOCK, mockConfig, `${PROFILE}-editing-relay-stream`);
      await profile(gw.mf, gateway, true, STREAM_LOAD_MOCK, mockConfig, `${PROFILE}-gateway-stream`);
      return;
    }

    // ---- latency, instant upstream, non-streaming
    await mockConfig(JSON_MOCK);
    log("warming up");
    await interleaved([direct, floor, bareGateway, gateway, limited, composite, portkey], 200, false);
    log(`latency: ${ROUNDS} interleaved rounds (non-streaming, instant upstream)`);
    const lat = await interleaved([direct, floor, bareGateway, gateway, composite, portkey], ROUNDS, false);

    // ---- time to first byte, realistic stream
    await mockConfig(STREAM_MOCK);
    log(`time to first byte: ${TTFB_ROUNDS} interleaved rounds (stream: 50 ms to first frame, 20 frames)`);
    const ttfbPaths = [direct, floor, editingRelay, bareGateway, bareRelay, gateway, composite, portkey];
    await interleaved(ttfbPaths, 5, true);
    const ttfb = await interleaved(ttfbPaths, TTFB_ROUNDS, true);

    // ---- throughput, instant upstream. Pairs alternate on their own: with more paths in rotation
    // the gateway sat idle for as long as its cache TTL before each of its windows and measured
    // about 15% lower than under steady traffic.
    await mockConfig(JSON_MOCK);
    const pair = async (a: Target, b: Target, stream: boolean, windows = WINDOWS) => {
      log(`throughput (${stream ? "streaming, 20 frames" : "JSON"}): ${a.name} / ${b.name}, ${windows} alternating ${WINDOW_MS} ms windows each, concurrency ${CONCURRENCY}`);
      return (await alternating([a, b], stream, windows)) as [Throughput, Throughput];
    };
    const [floorJson, gatewayJson] = await pair(floor, gateway, false);
    const [bareFloorJson, bareJson] = await pair(floor, bareGateway, false);
    const [gatewayVsPeerJson, peerJson] = await pair(gateway, portkey, false);
    // Twice the windows: this pair's ratio swung by ±0.1 between runs with five.
    const [gatewayVsLimitedJson, limitedJson] = await pair(gateway, limited, false, 2 * WINDOWS);
    const [gatewayVsCompositeJson, compositeJson] = await pair(gateway, composite, false);
    await mockConfig(STREAM_LOAD_MOCK);
    const [floorStream, gatewayStream] = await pair(floor, gateway, true);
    const [relayFloorStream, relayStream] = await pair(floor, editingRelay, true);
    const [gatewayVsPeerStream, peerStream] = await pair(gateway, portkey, true);

    // ---- cache layer on (warm index) vs off, same prompt
    await mockConfig(STREAM_MOCK);
    log(`cache layer: ${TTFB_ROUNDS} interleaved stream rounds, on (warm) vs off`);
    await interleaved([cacheOn, cacheOff], 10, true); // warms the index and the token counts
    const cacheTtfb = await interleaved([cacheOn, cacheOff], TTFB_ROUNDS, true);
    await mockConfig(JSON_MOCK);
    const [cacheOffJson, cacheOnJson] = await pair(cacheOff, cacheOn, false);

    // ---- report
    const p = (name: string, m: Map<string, Timing[]>, f: (t: Timing) => number, q: number) => percentile(m.get(name)!.map(f), q);
    const total = (t: Timing) => t.totalMs;
    const first = (t: Timing) => t.ttfbMs;
    const rows: [string, string, string, string][] = [["path", "p50 ms", "p99 ms", "mean ms"]];
    for (const name of ["direct", "floor", "bare-gateway", "gateway", "composite", "portkey"]) {
      const v = lat.get(name)!.map(total);
      rows.push([`${name} (json)`, p(name, lat, total, 50).toFixed(3), p(name, lat, total, 99).toFixed(3), (v.reduce((a, b) => a + b, 0) / v.length).toFixed(3)]);
    }
    for (const { name } of ttfbPaths) {
      rows.push([`${name} (stream ttfb)`, p(name, ttfb, first, 50).toFixed(3), p(name, ttfb, first, 99).toFixed(3), ""]);
    }
    for (const name of ["cache-off", "cache-on"]) {
      rows.push([`${name} (stream ttfb)`, p(name, cacheTtfb, first, 50).toFixed(3), p(name, cacheTtfb, first, 99).toFixed(3), ""]);
    }
    const table = rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(26) : c.padStart(10))).join(" ")).join("\n");
    // Each pair on its own lines: CPU per request drifts with the machine's load over the run, so
    // a path is compared only with its partner in the same alternation.
    const pairs: [string, Throughput, string, Throughput][] = [
      ["floor (json)", floorJson, "gateway (json)", gatewayJson],
      ["floor (json)", bareFloorJson, "bare-gateway (json)", bareJson],
      ["gateway (json)", gatewayVsPeerJson, "portkey (json)", peerJson],
      ["gateway (json)", gatewayVsLimitedJson, "gateway-limited (json)", limitedJson],
      ["gateway (json)", gatewayVsCompositeJson, "composite (json)", compositeJson],
      ["floor (stream)", floorStream, "gateway (stream)", gatewayStream],
      ["floor (stream)", relayFloorStream, "editing-relay (stream)", relayStream],
      ["gateway (stream)", gatewayVsPeerStream, "portkey (stream)", peerStream],
      ["cache-off (json)", cacheOffJson, "cache-on (json)", cacheOnJson],
    ];
    const line = (name: string, t: Throughput) => `  ${name.padEnd(24)} ${t.rps.toFixed(0).padStart(8)} ${t.cpuUs.toFixed(0).padStart(11)}`;
    const tputTable = [`throughput, in alternating pairs  ${"req/s".padStart(8)} ${"CPU µs/req".padStart(11)}`]
      .concat(pairs.map(([an, a, bn, b]) => `${line(an, a)}\n${line(bn, b)}   ×${(b.rps / a.rps).toFixed(2)} req/s, ×${(b.cpuUs / a.cpuUs).toFixed(2)} CPU`))
      .join("\n");

    const addedP50 = p("gateway", lat, total, 50) - p("direct", lat, total, 50);
    const addedP99 = p("gateway", lat, total, 99) - p("direct", lat, total, 99);
    const floorAddedP50 = p("floor", lat, total, 50) - p("direct", lat, total, 50);
    const ttfbAdded = p("gateway", ttfb, first, 50) - p("direct", ttfb, first, 50);
    const floorTtfbAdded = p("floor", ttfb, first, 50) - p("direct", ttfb, first, 50);
    const result = {
      // issue #20's targets
      stream_cpu_vs_floor: round(gatewayStream.cpuUs / floorStream.cpuUs),
      stream_rps_ratio_vs_floor: round(gatewayStream.rps / floorStream.rps),
      stream_rps_vs_portkey: round(gatewayVsPeerStream.rps / peerStream.rps),
      overhead_vs_floor: round(addedP50 / floorAddedP50),
      rps_ratio_vs_floor: round(gatewayJson.rps / floorJson.rps),
      rps_vs_portkey: round(gatewayVsPeerJson.rps / peerJson.rps),
      added_p99_vs_portkey: round(addedP99 / (p("portkey", lat, total, 99) - p("direct", lat, total, 99))),
      ratelimited_rps_ratio: round(limitedJson.rps / gatewayVsLimitedJson.rps),
      ratelimited_cpu_ratio: round(limitedJson.cpuUs / gatewayVsLimitedJson.cpuUs),
      ttfb_added_vs_floor: round(ttfbAdded / floorTtfbAdded),
      // issue #19: a composite alias whose first component answers, against the plain alias
      composite_added_p50_ms: round(p("composite", lat, total, 50) - p("gateway", lat, total, 50)),
      composite_ttfb_added_p50_ms: round(p("composite", ttfb, first, 50) - p("gateway", ttfb, first, 50)),
      composite_rps_ratio: round(compositeJson.rps / gatewayVsCompositeJson.rps),
      composite_cpu_ratio: round(compositeJson.cpuUs / gatewayVsCompositeJson.cpuUs),
      // the runtime's limit for a relay that edits, and the other limits the machine sets
      editing_relay_stream_cpu_vs_floor: round(relayStream.cpuUs / relayFloorStream.cpuUs),
      editing_relay_stream_rps_ratio_vs_floor: round(relayStream.rps / relayFloorStream.rps),
      bare_gateway_rps_ratio_vs_floor: round(bareJson.rps / bareFloorJson.rps),
      bare_gateway_overhead_vs_floor: round((p("bare-gateway", lat, total, 50) - p("direct", lat, total, 50)) / floorAddedP50),
      bare_gateway_ttfb_added_vs_floor: round((p("bare-gateway", ttfb, first, 50) - p("direct", ttfb, first, 50)) / floorTtfbAdded),
      editing_relay_ttfb_added_vs_floor: round((p("editing-relay", ttfb, first, 50) - p("direct", ttfb, first, 50)) / floorTtfbAdded),
      bare_relay_ttfb_added_vs_floor: round((p("bare-relay", ttfb, first, 50) - p("direct", ttfb, first, 50)) / floorTtfbAdded),
      portkey_stream_cpu_vs_floor: round(peerStream.cpuUs / floorStream.cpuUs),
      // absolute figures (this machine)
      added_p50_ms: round(addedP50),
      added_p99_ms: round(addedP99),
      floor_added_p50_ms: round(floorAddedP50),
      portkey_added_p50_ms: round(p("portkey", lat, total, 50) - p("direct", lat, total, 50)),
      ttfb_added_p50_ms: round(ttfbAdded),
      floor_ttfb_added_p50_ms: round(floorTtfbAdded),
      portkey_ttfb_added_p50_ms: round(p("portkey", ttfb, first, 50) - p("direct", ttfb, first, 50)),
      cache_ttfb_added_p50_ms: round(p("cache-on", cacheTtfb, first, 50) - p("cache-off", cacheTtfb, first, 50)),
      cache_rps_ratio: round(cacheOnJson.rps / cacheOffJson.rps),
      cpu_us_per_request: Object.fromEntries(
        pairs.flatMap(([an, a, bn, b]) => [[an, a], [bn, b]] as [string, Throughput][]).map(([name, t]) => [name.replace(" (", "_").replace(")", ""), Math.round(t.cpuUs)])
          .reverse(), // a path's first pair wins (the floor's and the gateway's own)
      ),
    };
    console.log(`\n${table}\n\n${tputTable}\n`);
    console.log(JSON.stringify(result));
  } finally {
    await cleanup();
    agent.destroy();
  }
}

/**
 * BENCH_PROFILE: a CPU profile of one worker's isolate (V8's sampling profiler over the inspector)
 * during a 3 s load window. Writes `<file>.cpuprofile` (open it in Chrome DevTools) and prints the
 * isolate's busy time per request and the functions with the most self time.
 */
async function profile(mf: Miniflare, target: Target, stream: boolean, mock: Record<string, unknown>, mockConfig: (o: Record<string, unknown>) => Promise<void>, file: string): Promise<void> {
  const { default: WebSocket } = await import("ws");
  const { writeFileSync } = await import("node:fs");
  const inspector = await mf.getInspectorURL();
  const list = (await (await fetch(`http://${inspector.host}/json`)).json()) as { webSocketDebuggerUrl: string }[];
  const ws = new WebSocket(list[0]!.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  let nextId = 1;
  const pending = new Map<number, (v: unknown) => void>();
  ws.on("message", (data) => {
    const msg = JSON.parse(String(data)) as { id?: number; result?: unknown };
    if (msg.id !== undefined) pending.get(msg.id)?.(msg.result);
  });
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 100 });
  await mockConfig(mock);
  await windowLoad(target, 1000, stream); // warm
  await send("Profiler.start");
  const n = await windowLoad(target, 3000, stream);
  const { profile } = (await send("Profiler.stop")) as { profile: CpuProfile };
  ws.close();
  writeFileSync(`${file}.cpuprofile`, JSON.stringify(profile));
  log(`${file}.cpuprofile written`);
  console.log(`\n${target.name}, ${stream ? "streaming" : "json"}: ${n} requests in 3 s\n${summarize(profile, n)}`);
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function summarize(profile: CpuProfile, requests: number): string {
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byFn = new Map<string, number>();
  let busy = 0;
  for (const node of profile.nodes) {
    const us = self.get(node.id) ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName !== "(idle)") busy += us;
    const key = `${functionName || "(anonymous)"} ${url.split("/").pop()}:${lineNumber + 1}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
  }
  const total = profile.endTime - profile.startTime;
  const lines = [...byFn].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([k, us]) => `${(us / requests).toFixed(1).padStart(8)} µs/req  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`);
  return `busy ${(busy / requests).toFixed(1)} µs/req of ${(total / requests).toFixed(1)} µs/req wall\n${lines.join("\n")}`;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

main().catch((err: unknown) => {
  console.error(`bench:gateway failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
