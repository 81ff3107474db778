/**
 * `npx tsx bench/stream-variants.ts` — why a relay that edits a stream costs what it does in
 * workerd: bench:gateway's floor and editing relay beside variants of the relay that change one
 * thing each, measured side by side in one run (every path once per round, the order rotating),
 * CPU per stream from /proc, on bench:gateway's load stream (20 content frames, instant upstream).
 *
 * Variants (each its own workerd via Miniflare, `stripCfConnectingIp: false`, a direct socket):
 *   floor, relay          bench:gateway's own (bench/relay-scripts.ts)
 *   r-base                the relay as a generated script (same steps; counts reads per stream)
 *   r-text                the request edited as text (two string replaces), not parsed and re-serialised
 *   r-default             a default reader (a new chunk per read), not BYOB into a reused buffer
 *   r-noawait             writes not awaited
 *   r-bytes               the response a ReadableStream of type "bytes" whose pull reads and edits
 *   r-jsstream            the response a default ReadableStream whose pull reads and edits
 *   r-transform           upstream.body.pipeThrough(new TransformStream(edit))
 *   pump                  a default-reader loop that writes every chunk unchanged (JS per chunk, no work)
 *   pump-copy, pump-arena the same, writing a new copy of each chunk, or a copy in a slice of a per-stream buffer
 *   tee                   tee(): one branch to the client natively, the other read in JS (meters, cannot edit)
 *   floor-1w, relay-1w    floor and relay on an upstream that sends the same bytes in one write
 *   *-cork                the same bytes, each frame its own HTTP chunk, all corked into one TCP write
 *
 * Environment: BENCH_WINDOWS (5), BENCH_WINDOW_MS (1000), BENCH_CONCURRENCY (16), BENCH_ONLY
 * (comma-separated variant names, floor always included).
 */
import { readFileSync } from "node:fs";
import { Agent, createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { ROOT } from "../dev/stack.ts";
import { childPids, cpuMicros, startMock } from "./processes.ts";
import { EDITING_RELAY_SCRIPT, FLOOR_SCRIPT, RELAY_EDIT_HELPERS } from "./relay-scripts.ts";

const num = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const WINDOWS = num("BENCH_WINDOWS", 5);
const WINDOW_MS = num("BENCH_WINDOW_MS", 1000);
const CONCURRENCY = num("BENCH_CONCURRENCY", 16);
const ONLY = process.env.BENCH_ONLY?.split(",");
const log = (msg: string) => console.error(`· ${msg}`);

// ---- the one-write upstream: serves captured stream bytes in a single write (own process)
if (process.argv[2] === "--one-write-mock") {
  const [withUsage, without] = JSON.parse(readFileSync(0, "utf8")) as [string, string];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      const bytes = body.includes('"include_usage":true') ? withUsage : without;
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      if (!req.url?.startsWith("/cork/")) return void res.end(bytes);
      // Each frame its own HTTP chunk (as the dev mock writes them), all in one TCP segment.
      res.cork();
      for (const frame of bytes.split(/(?<=\n\n)/)) res.write(frame);
      res.end();
    });
  });
  server.listen(0, "127.0.0.1", () => console.log(`MOCK_URL=http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  process.on("SIGTERM", () => process.exit(0));
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}

// ---- relay variants, generated
interface RelayOptions {
  request: "json" | "text";
  reader: "byob" | "default";
  writes: "await" | "noawait";
  sink: "identity" | "bytes" | "jsstream" | "transform";
}

function relayScript(o: RelayOptions): string {
  const read =
    o.reader === "byob"
      ? `const r = await reader.read(new Uint8Array(buffer, 0, 65536)); if (!r.done) buffer = r.value.buffer;`
      : `const r = await reader.read();`;
  const body =
    o.request === "json"
      ? `const parsed = await request.json(); const alias = enc.encode(parsed.model);
         const upBody = JSON.stringify({ ...parsed, model: "mock-gpt", stream_options: { include_usage: true } });`
      : `const text = await request.text(); const m = /"model":"([^"]*)"/.exec(text); const alias = enc.encode(m[1]);
         const upBody = text.replace(m[0], '"model":"mock-gpt"').replace('"stream":true', '"stream":true,"stream_options":{"include_usage":true}');`;
  return `
${RELAY_EDIT_HELPERS}let streams = 0, reads = 0;
/** One upstream chunk in, the bytes to send out (null: none yet). */
function editor(alias) {
  let carry = null;
  return {
    chunk(value) {
      reads++;
      const bytes = carry ? concat([carry, value]) : value;
      carry = null;
      const out = [];
      let start = 0;
      for (let i = 0; i + 1 < bytes.length; i++) {
        if (bytes[i] === 10 && bytes[i + 1] === 10) {
          editEvent(bytes, start, i + 2, alias, out);
          start = i + 2;
          i++;
        }
      }
      if (start < bytes.length) carry = bytes.slice(start);
      return out.length > 0 ? concat(out) : null;
    },
    end() { return carry; },
  };
}
async function pump(reader, writer, alias) {
  const ed = editor(alias);
  let buffer = new ArrayBuffer(65536);
  try {
    for (;;) {
      ${read}
      if (r.done) break;
      const out = ed.chunk(r.value);
      if (out) ${o.writes === "await" ? "await writer.write(out)" : "writer.write(out).catch(() => undefined)"};
    }
    const rest = ed.end();
    if (rest) await writer.write(rest);
    await writer.close();
  } catch (err) {
    await writer.abort(err).catch(() => undefined);
  }
}
export default {
  async fetch(request, env, ctx) {
    if (request.method === "GET") return Response.json({ streams, reads });
    streams++;
    ${body}
    const upstream = await fetch(env.UPSTREAM + "/v1/chat/completions", {
      method: "POST", headers: { "content-type": "application/json" }, body: upBody,
    });
    const headers = { "content-type": "text/event-stream" };
    ${
      o.sink === "identity"
        ? `const { readable, writable } = new IdentityTransformStream();
    ctx.waitUntil(pump(upstream.body.getReader(${o.reader === "byob" ? `{ mode: "byob" }` : ""}), writable.getWriter(), alias));
    return new Response(readable, { status: upstream.status, headers });`
        : o.sink === "transform"
          ? `const ed = editor(alias);
    const t = new TransformStream({
      transform(chunk, c) { const out = ed.chunk(chunk); if (out) c.enqueue(out); },
      flush(c) { const rest = ed.end(); if (rest) c.enqueue(rest); },
    });
    return new Response(upstream.body.pipeThrough(t), { status: upstream.status, headers });`
          : `const ed = editor(alias);
    const reader = upstream.body.getReader(${o.reader === "byob" ? `{ mode: "byob" }` : ""});
    let buffer = new ArrayBuffer(65536);
    const body = new ReadableStream({
      ${o.sink === "bytes" ? `type: "bytes",` : ""}
      async pull(controller) {
        for (;;) {
          ${read}
          if (r.done) { const rest = ed.end(); if (rest) controller.enqueue(rest); controller.close(); return; }
          const out = ed.chunk(r.value);
          if (out) { controller.enqueue(out); return; }
        }
      },
      cancel(reason) { return reader.cancel(reason); },
    });
    return new Response(body, { status: upstream.status, headers });`
    }
  },
};`;
}

/** The pump; \`out\` says what is written: the chunk read, a new copy of it, or a copy in a slice of a per-stream 4 KiB buffer. */
const pumpScript = (out: "value" | "copy" | "arena") => `
let streams = 0, reads = 0;
async function pump(reader, writer) {
  let arena = new Uint8Array(0), used = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      reads++;
      ${
        out === "value"
          ? "await writer.write(value);"
          : out === "copy"
            ? "await writer.write(new Uint8Array(value));"
            : `if (used + value.length > arena.length) { arena = new Uint8Array(4096); used = 0; }
      const slice = arena.subarray(used, used + value.length); used += value.length;
      slice.set(value);
      await writer.write(slice);`
      }
    }
    await writer.close();
  } catch (err) {
    await writer.abort(err).catch(() => undefined);
  }
}
export default {
  async fetch(request, env, ctx) {
    if (request.method === "GET") return Response.json({ streams, reads });
    streams++;
    const upstream = await fetch(env.UPSTREAM + "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: request.body });
    const { readable, writable } = new IdentityTransformStream();
    ctx.waitUntil(pump(upstream.body.getReader(), writable.getWriter()));
    return new Response(readable, { status: upstream.status, headers: { "content-type": "text/event-stream" } });
  },
};`;

const TEE_SCRIPT = `
let streams = 0, reads = 0;
const USAGE = new TextEncoder().encode('"usage":{');
async function meter(reader) {
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    reads++;
    for (let i = 0; i < value.length; i++) if (value[i] === USAGE[0] && value[i + 1] === USAGE[1] && value[i + 2] === USAGE[2]) break;
  }
}
export default {
  async fetch(request, env, ctx) {
    if (request.method === "GET") return Response.json({ streams, reads });
    streams++;
    const upstream = await fetch(env.UPSTREAM + "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: request.body });
    const [a, b] = upstream.body.tee();
    ctx.waitUntil(meter(b.getReader()));
    return new Response(a, { status: upstream.status, headers: { "content-type": "text/event-stream" } });
  },
};`;

// ---- load and CPU (as bench:gateway)
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2 });
interface Target {
  name: string;
  url: string;
  pid: number;
  mf: Miniflare;
  model: string;
}

function call(target: Target): Promise<number> {
  const body = JSON.stringify({ model: target.model, messages: [{ role: "user", content: "Hello there" }], stream: true });
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const req = request(target.url, { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      res.on("data", (d: Buffer) => (bytes += d.length));
      res.on("end", () => (res.statusCode === 200 ? resolve(bytes) : reject(new Error(`${target.name} answered ${res.statusCode}`))));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function windowLoad(target: Target, ms: number): Promise<number> {
  const deadline = performance.now() + ms;
  let done = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        await call(target).catch((err: Error) => Promise.reject(new Error(`${target.name}: ${err.message}`)));
        done++;
      }
    }),
  );
  return done;
}

async function main(): Promise<void> {
  const cleanups: (() => unknown)[] = [];
  try {
    const mock = await startMock([join(ROOT, "bench/mock-server.ts")]);
    cleanups.push(mock.kill);
    await fetch(`${mock.url}/__mock/config`, { method: "POST", body: JSON.stringify({ ttfbMs: 0, frames: 20, frameIntervalMs: 0 }) });
    const capture = async (includeUsage: boolean) =>
      (
        await fetch(`${mock.url}/v1/chat/completions`, {
          method: "POST",
          body: JSON.stringify({ model: "mock-gpt", messages: [{ role: "user", content: "Hello there" }], stream: true, ...(includeUsage ? { stream_options: { include_usage: true } } : {}) }),
        })
      ).text();
    const oneWrite = await startMock([join(ROOT, "bench/stream-variants.ts"), "--one-write-mock"], JSON.stringify([await capture(true), await capture(false)]));
    cleanups.push(oneWrite.kill);

    const base = {
      modules: true,
      compatibilityDate: "2026-04-20",
      compatibilityFlags: ["nodejs_compat"],
      host: "127.0.0.1",
      port: 0,
      unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
      stripCfConnectingIp: false,
    };
    const relay = (o: Partial<RelayOptions>) => relayScript({ request: "json", reader: "byob", writes: "await", sink: "identity", ...o });
    const variants: [string, string, string, string][] = [
      // name, script, upstream, model
      ["floor", FLOOR_SCRIPT, mock.url, "mock-gpt"],
      ["relay", EDITING_RELAY_SCRIPT, mock.url, "demo-model"],
      ["r-base", relay({}), mock.url, "demo-model"],
      ["r-text", relay({ request: "text" }), mock.url, "demo-model"],
      ["r-default", relay({ reader: "default" }), mock.url, "demo-model"],
      ["r-noawait", relay({ writes: "noawait" }), mock.url, "demo-model"],
      ["r-bytes", relay({ sink: "bytes" }), mock.url, "demo-model"],
      ["r-jsstream", relay({ sink: "jsstream", reader: "default" }), mock.url, "demo-model"],
      ["r-transform", relay({ sink: "transform", reader: "default" }), mock.url, "demo-model"],
      ["pump", pumpScript("value"), mock.url, "mock-gpt"],
      ["pump-copy", pumpScript("copy"), mock.url, "mock-gpt"],
      ["pump-arena", pumpScript("arena"), mock.url, "mock-gpt"],
      ["tee", TEE_SCRIPT, mock.url, "mock-gpt"],
      ["floor-1w", FLOOR_SCRIPT, oneWrite.url, "mock-gpt"],
      ["relay-1w", EDITING_RELAY_SCRIPT, oneWrite.url, "demo-model"],
      ["r-base-1w", relay({}), oneWrite.url, "demo-model"],
      ["floor-cork", FLOOR_SCRIPT, `${oneWrite.url}/cork`, "mock-gpt"],
      ["r-base-cork", relay({}), `${oneWrite.url}/cork`, "demo-model"],
    ];
    const targets: Target[] = [];
    for (const [name, script, upstream, model] of variants) {
      if (ONLY && name !== "floor" && !ONLY.includes(name)) continue;
      const before = new Set(childPids());
      const mf = new Miniflare({ ...base, script, bindings: { UPSTREAM: upstream } });
      cleanups.push(() => mf.dispose());
      await mf.ready;
      const pid = childPids().find((p) => !before.has(p))!;
      targets.push({ name, url: new URL("/ai/v1/chat/completions", await mf.unsafeGetDirectURL()).toString(), pid, mf, model });
    }
    // Every variant must deliver the same stream the relay does.
    const sizes = new Map<string, number>();
    for (const t of targets) sizes.set(t.name, await call(t).catch((err: Error) => Promise.reject(new Error(`${t.name}: ${err.message}`))));
    log(`bytes per stream: ${[...sizes].map(([n, b]) => `${n} ${b}`).join(", ")}`);

    log(`${targets.length} paths, ${WINDOWS} rotating ${WINDOW_MS} ms windows each, concurrency ${CONCURRENCY}; load ${readFileSync("/proc/loadavg", "utf8").trim()}`);
    for (const t of targets) await windowLoad(t, 300);
    const done = targets.map(() => 0);
    const cpu = targets.map(() => 0);
    for (let w = 0; w < WINDOWS; w++) {
      for (let k = 0; k < targets.length; k++) {
        const i = (w + k) % targets.length;
        const before = cpuMicros(targets[i]!.pid);
        done[i]! += await windowLoad(targets[i]!, WINDOW_MS);
        cpu[i]! += cpuMicros(targets[i]!.pid) - before;
      }
    }
    const floorCpu = cpu[0]! / done[0]!;
    console.log(`\nload after: ${readFileSync("/proc/loadavg", "utf8").trim()}`);
    console.log(`${"path".padEnd(14)} ${"req/s".padStart(7)} ${"CPU µs".padStart(8)} ${"×floor".padStart(7)} ${"reads/stream".padStart(13)}`);
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i]!;
      let reads = "";
      const stats = !/^(r-|pump|tee)/.test(t.name) ? null : await fetch(t.url).then((r) => (r.headers.get("content-type")?.includes("json") ? (r.json() as Promise<{ streams: number; reads: number }>) : null), () => null);
      if (stats && stats.streams > 0) reads = (stats.reads / stats.streams).toFixed(2);
      const us = cpu[i]! / done[i]!;
      console.log(`${t.name.padEnd(14)} ${(done[i]! / ((WINDOWS * WINDOW_MS) / 1000)).toFixed(0).padStart(7)} ${us.toFixed(0).padStart(8)} ${(us / floorCpu).toFixed(2).padStart(7)} ${reads.padStart(13)}`);
    }
  } finally {
    for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
    agent.destroy();
  }
}
