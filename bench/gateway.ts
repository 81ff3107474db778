/**
 * `npm run bench:gateway` — what the gateway costs, measured side by side in one run.
 *
 * Paths (each in its own workerd via Miniflare, no `wrangler dev` proxy in front):
 *   direct           the mock upstream, called straight from this process
 *   floor            a minimal worker: fetch the upstream and return its response
 *   transform-floor  the same with one no-op TransformStream on the body (the streaming floor)
 *   gateway          the real gateway bundle (as `wrangler deploy` builds it) with metering on:
 *                    key/model/access from warm per-isolate caches, one usage message per request
 *                    to the queue (sent in bundles), the SSE relay for streams
 *   bare-gateway     (throughput only) a worker doing just the steps no gateway can skip, with
 *                    constants for its key and model (BARE_GATEWAY_SCRIPT): the ceiling for the
 *                    gateway's throughput on this machine
 *
 * Latency: interleaved requests (each round runs every path once, in shuffled order), instant
 * upstream. Time to first byte: the same, with a realistic stream (50 ms to the first frame,
 * 20 frames). Throughput: alternating fixed windows per path at a fixed concurrency.
 *
 * Cache layer: the same long prompt with a cache_control marker sent to a model with a cache
 * tariff (index warm) against the same prompt to the same upstream on a model without one.
 *
 * Environment: DATABASE_URL (else embedded Postgres), BENCH_ROUNDS (default 1500),
 * BENCH_TTFB_ROUNDS (150), BENCH_WINDOWS (6 per path), BENCH_WINDOW_MS (1000),
 * BENCH_CONCURRENCY (16); BENCH_PROFILE (a path prefix: profile instead, see profile()). Loopback
 * only; stops by itself.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import pg from "pg";
import { startEmbeddedPostgres } from "../dev/embedded-postgres.ts";
import { migrate } from "../dev/migrate.ts";
import { seedDemo } from "../dev/seed.ts";
import { ROOT } from "../dev/stack.ts";
import { putTokenizerRanks } from "../dev/tokenizer-ranks.ts";
import { buildBundle } from "./workerd.ts";
import { startWsBridge } from "../dev/ws-bridge.ts";
import { generateEncryptionKey } from "../shared/secret-box.ts";

const num = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const ROUNDS = num("BENCH_ROUNDS", 1500);
const TTFB_ROUNDS = num("BENCH_TTFB_ROUNDS", 150);
const WINDOWS = num("BENCH_WINDOWS", 6);
const WINDOW_MS = num("BENCH_WINDOW_MS", 1000);
const CONCURRENCY = num("BENCH_CONCURRENCY", 16);
const COMPAT_DATE = "2026-04-20";
/** BENCH_PROFILE=<path prefix>: instead of the comparison, profile each worker under load (see profile()). */
const PROFILE = process.env.BENCH_PROFILE;

const log = (msg: string) => console.error(`· ${msg}`);

// ---------------------------------------------------------------------------------------------
// HTTP client: node:http with keep-alive, timing to first body byte and to the end.

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2 });

interface Timing {
  status: number;
  ttfbMs: number;
  totalMs: number;
}

interface Target {
  name: string;
  url: string;
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
        res.on("data", () => {
          if (ttfb < 0) ttfb = performance.now() - started;
        });
        res.on("end", () => {
          const total = performance.now() - started;
          resolve({ status: res.statusCode ?? 0, ttfbMs: ttfb < 0 ? total : ttfb, totalMs: total });
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
    for (const t of shuffle(targets)) out.get(t.name)!.push(await checked(t, stream));
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

/**
 * Alternating windows, every path once per round with the order rotating from round to round (a b c,
 * b c a, c a b, …); returns requests per second for each path.
 */
async function alternating(targets: Target[], stream: boolean): Promise<number[]> {
  const done = targets.map(() => 0);
  for (const t of targets) await windowLoad(t, 300, stream); // warm every path
  for (let w = 0; w < WINDOWS; w++) {
    for (let k = 0; k < targets.length; k++) {
      const i = (w + k) % targets.length;
      done[i]! += await windowLoad(targets[i]!, WINDOW_MS, stream);
    }
  }
  const seconds = (WINDOWS * WINDOW_MS) / 1000;
  return done.map((n) => n / seconds);
}

// ---------------------------------------------------------------------------------------------
// Setup

const FLOOR_SCRIPT = `
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const upstream = await fetch(env.UPSTREAM + url.pathname.replace(/^\\/ai\\/v1/, "/v1"), {
      method: request.method, headers: { "content-type": "application/json" }, body: request.body,
    });
    return TRANSFORM ? new Response(upstream.body.pipeThrough(new TransformStream()), upstream) : upstream;
  },
};`;

/**
 * The bare gateway: only the steps no gateway can skip on a JSON request, with no framework, no
 * validation, no database and no rate limiting (its key and model are constants). Read and parse
 * the body, hash the key and look it up, swap the model name, fetch under a timeout, read and
 * parse the answer, swap the name back, answer, and keep one usage record for a queue message sent
 * per 25 ms (as the real outbox does). Its throughput is the ceiling for the real gateway's on this
 * machine: the distance to it is what our code costs beyond the unavoidable.
 */
const BARE_GATEWAY_SCRIPT = `
import { createHash } from "node:crypto";
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
    const upstream = await fetch(env.UPSTREAM + "/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, model: upstreamModel }),
      signal: controller.signal,
    });
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
    log("building the gateway bundle (wrangler deploy --dry-run)");
    const outDir = mkdtempSync(join(tmpdir(), "tollgate-bench-"));
    cleanups.push(() => rmSync(outDir, { recursive: true, force: true }));
    buildBundle(join(ROOT, "wrangler.toml"), outDir);

    log("starting the mock upstream (own process)");
    const mockProc = spawn(process.execPath, [join(ROOT, "node_modules/tsx/dist/cli.mjs"), join(ROOT, "bench/mock-server.ts")], { stdio: ["pipe", "pipe", "inherit"] });
    cleanups.push(() => void mockProc.kill("SIGTERM"));
    const mockUrl = await new Promise<string>((resolve, reject) => {
      let buf = "";
      mockProc.stdout!.on("data", (d: Buffer) => {
        buf += d.toString();
        const m = buf.match(/MOCK_URL=(\S+)/);
        if (m) resolve(m[1]!);
      });
      mockProc.once("exit", (code) => reject(new Error(`mock exited with ${code}`)));
    });
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
    // floor and the gateway alike.
    const base = {
      modules: true,
      compatibilityDate: COMPAT_DATE,
      compatibilityFlags: ["nodejs_compat"],
      host: "127.0.0.1",
      port: 0,
      unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
    };
    const gatewayMf = new Miniflare({
      ...base,
      scriptPath: join(outDir, "index.js"),
      modulesRoot: outDir,
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
      durableObjects: { RATE_LIMITER: "RateLimiter" },
      r2Buckets: { TOKENIZERS: "tollgate-tokenizers" },
      ...(PROFILE ? { inspectorPort: 0 } : {}),
    });
    const inspect = PROFILE ? { inspectorPort: 0 } : {};
    const floorMf = new Miniflare({ ...base, ...inspect, script: FLOOR_SCRIPT.replace("TRANSFORM", "false"), bindings: { UPSTREAM: mockUrl } });
    const transformMf = new Miniflare({ ...base, ...inspect, script: FLOOR_SCRIPT.replace("TRANSFORM", "true"), bindings: { UPSTREAM: mockUrl } });
    const bareMf = new Miniflare({ ...base, script: BARE_GATEWAY_SCRIPT, bindings: { UPSTREAM: mockUrl }, queueProducers: { USAGE_QUEUE: "bare-usage" } });
    cleanups.push(() => gatewayMf.dispose(), () => floorMf.dispose(), () => transformMf.dispose(), () => bareMf.dispose());
    await putTokenizerRanks(gatewayMf);
    await Promise.all([gatewayMf.ready, floorMf.ready, transformMf.ready, bareMf.ready]);
    const [gwUrl, floorUrl, transformUrl, bareUrl] = await Promise.all([
      gatewayMf.unsafeGetDirectURL(),
      floorMf.unsafeGetDirectURL(),
      transformMf.unsafeGetDirectURL(),
      bareMf.unsafeGetDirectURL(),
    ]);
    const seed = await seedDemo({ gatewayUrl: gwUrl.origin, adminToken: ADMIN_TOKEN, upstreamBaseUrl: `${mockUrl}/v1`, upstreamModel: "mock-gpt" });
    // Two more models on the same upstream, both reporting realistic prompt sizes (the mock's
    // `count` mode): one with a cache tariff (cache layer on), one without (off).
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
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
    await db.end();

    const auth = { authorization: `Bearer ${seed.apiKey}` };
    const direct: Target = { name: "direct", url: `${mockUrl}/v1/chat/completions`, headers: {}, model: "mock-gpt" };
    const floor: Target = { name: "floor", url: new URL("/ai/v1/chat/completions", floorUrl).toString(), headers: {}, model: "mock-gpt" };
    const transformFloor: Target = { name: "transform-floor", url: new URL("/ai/v1/chat/completions", transformUrl).toString(), headers: {}, model: "mock-gpt" };
    const gateway: Target = { name: "gateway", url: new URL("/ai/v1/chat/completions", gwUrl).toString(), headers: auth, model: "demo-model" };
    const bareGateway: Target = { name: "bare-gateway", url: new URL("/ai/v1/chat/completions", bareUrl).toString(), headers: auth, model: "demo-model" };
    const longPrompt = (marker: boolean) => [
      { role: "system", content: [{ type: "text", text: "You are a careful assistant for a billing platform. ".repeat(80), ...(marker ? { cache_control: { type: "ephemeral" } } : {}) }] },
      { role: "user", content: "How do prompt caches work?" },
    ];
    const cacheOff: Target = { ...gateway, name: "cache-off", messages: longPrompt(true), model: "bench-cache-off" };
    const cacheOn: Target = { ...gateway, name: "cache-on", messages: longPrompt(true), model: "bench-cache-on" };

    if (PROFILE) {
      const json = { ttfbMs: 0, frames: 3, frameIntervalMs: 0 };
      const stream = { ttfbMs: 0, frames: 20, frameIntervalMs: 0 };
      await profile(floorMf, floor, false, json, mockConfig, `${PROFILE}-floor-json`);
      await profile(gatewayMf, gateway, false, json, mockConfig, `${PROFILE}-gateway-json`);
      await profile(transformMf, transformFloor, true, stream, mockConfig, `${PROFILE}-transform-floor-stream`);
      await profile(gatewayMf, gateway, true, stream, mockConfig, `${PROFILE}-gateway-stream`);
      return;
    }

    // ---- latency, instant upstream, non-streaming
    await mockConfig({ ttfbMs: 0, frames: 3, frameIntervalMs: 0 });
    log("warming up");
    await interleaved([direct, floor, gateway], 200, false);
    log(`latency: ${ROUNDS} interleaved rounds (non-streaming, instant upstream)`);
    const lat = await interleaved([direct, floor, gateway], ROUNDS, false);

    // ---- time to first byte, realistic stream
    await mockConfig({ ttfbMs: 50, frames: 20, frameIntervalMs: 2 });
    log(`time to first byte: ${TTFB_ROUNDS} interleaved rounds (stream: 50 ms to first frame, 20 frames)`);
    await interleaved([direct, gateway], 5, true);
    const ttfb = await interleaved([direct, transformFloor, gateway], TTFB_ROUNDS, true);

    // ---- throughput, instant upstream
    await mockConfig({ ttfbMs: 0, frames: 3, frameIntervalMs: 0 });
    log(`throughput (non-streaming): ${WINDOWS} alternating ${WINDOW_MS} ms windows per path, concurrency ${CONCURRENCY}`);
    const [floorRps, gatewayRps] = await alternating([floor, gateway], false) as [number, number];
    // A run of its own (with the floor again): with three paths in rotation the gateway sat idle
    // for two windows (as long as its cache TTL) before each of its own, and came out about 15%
    // lower than when it alternates with the floor alone, as it would under steady traffic.
    log(`throughput (non-streaming): the bare gateway, ${WINDOWS} alternating windows with the floor`);
    const [bareFloorRps, bareRps] = await alternating([floor, bareGateway], false) as [number, number];
    await mockConfig({ ttfbMs: 0, frames: 20, frameIntervalMs: 0 });
    log(`throughput (streaming, 20 frames): ${WINDOWS} alternating windows per path`);
    const [transformRps, gatewayStreamRps] = await alternating([transformFloor, gateway], true) as [number, number];

    // ---- cache layer on (warm index) vs off, same prompt
    await mockConfig({ ttfbMs: 50, frames: 20, frameIntervalMs: 2 });
    log(`cache layer: ${TTFB_ROUNDS} interleaved stream rounds, on (warm) vs off`);
    await interleaved([cacheOn, cacheOff], 10, true); // warms the index and the token counts
    const cacheTtfb = await interleaved([cacheOn, cacheOff], TTFB_ROUNDS, true);
    await mockConfig({ ttfbMs: 0, frames: 3, frameIntervalMs: 0 });
    log(`cache layer throughput: ${WINDOWS} alternating windows per path`);
    const [cacheOffRps, cacheOnRps] = await alternating([cacheOff, cacheOn], false) as [number, number];

    // ---- report
    const p = (name: string, m: Map<string, Timing[]>, f: (t: Timing) => number, q: number) => percentile(m.get(name)!.map(f), q);
    const total = (t: Timing) => t.totalMs;
    const first = (t: Timing) => t.ttfbMs;
    const rows: [string, string, string, string][] = [["path", "p50 ms", "p99 ms", "mean ms"]];
    for (const name of ["direct", "floor", "gateway"]) {
      const v = lat.get(name)!.map(total);
      rows.push([`${name} (json)`, p(name, lat, total, 50).toFixed(3), p(name, lat, total, 99).toFixed(3), (v.reduce((a, b) => a + b, 0) / v.length).toFixed(3)]);
    }
    for (const name of ["direct", "transform-floor", "gateway"]) {
      rows.push([`${name} (stream ttfb)`, p(name, ttfb, first, 50).toFixed(3), p(name, ttfb, first, 99).toFixed(3), ""]);
    }
    for (const name of ["cache-off", "cache-on"]) {
      rows.push([`${name} (stream ttfb)`, p(name, cacheTtfb, first, 50).toFixed(3), p(name, cacheTtfb, first, 99).toFixed(3), ""]);
    }
    const table = rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(26) : c.padStart(10))).join(" ")).join("\n");

    const addedP50 = p("gateway", lat, total, 50) - p("direct", lat, total, 50);
    const addedP99 = p("gateway", lat, total, 99) - p("direct", lat, total, 99);
    const floorAddedP50 = p("floor", lat, total, 50) - p("direct", lat, total, 50);
    const result = {
      added_p50_ms: round(addedP50),
      added_p99_ms: round(addedP99),
      overhead_vs_floor: round(addedP50 / floorAddedP50),
      ttfb_added_p50_ms: round(p("gateway", ttfb, first, 50) - p("direct", ttfb, first, 50)),
      rps_ratio_vs_floor: round(gatewayRps / floorRps),
      stream_rps_ratio_vs_transform_floor: round(gatewayStreamRps / transformRps),
      cache_ttfb_added_p50_ms: round(p("cache-on", cacheTtfb, first, 50) - p("cache-off", cacheTtfb, first, 50)),
      cache_rps_ratio: round(cacheOnRps / cacheOffRps),
      // What the floors alone add, and the bare gateway's throughput: the limits this machine sets.
      floor_added_p50_ms: round(floorAddedP50),
      floor_ttfb_added_p50_ms: round(p("transform-floor", ttfb, first, 50) - p("direct", ttfb, first, 50)),
      bare_gateway_rps_ratio_vs_floor: round(bareRps / bareFloorRps),
      rps: {
        floor: Math.round(floorRps),
        gateway: Math.round(gatewayRps),
        bare_gateway: Math.round(bareRps),
        transform_floor_stream: Math.round(transformRps),
        gateway_stream: Math.round(gatewayStreamRps),
        cache_off: Math.round(cacheOffRps),
        cache_on: Math.round(cacheOnRps),
      },
    };
    console.log(
      `\n${table}\n\nthroughput (req/s at concurrency ${CONCURRENCY}): floor ${result.rps.floor}, gateway ${result.rps.gateway}, bare gateway ${result.rps.bare_gateway}; ` +
        `streaming: transform-floor ${result.rps.transform_floor_stream}, gateway ${result.rps.gateway_stream}; ` +
        `cache layer: off ${result.rps.cache_off}, on ${result.rps.cache_on}\n`,
    );
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
