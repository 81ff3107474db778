/**
 * `npm run bench:coldstart` — what a fresh isolate costs before it answers, gateway vs a floor.
 *
 * Each sample starts a new workerd (Miniflare) with one worker and sends it one request:
 *   start          `new Miniflare()` until it is ready (workerd up, the worker's script compiled
 *                  and its top-level code run)
 *   first request  ready until the first response's body is read (`GET /healthz`)
 * for the floor (a worker that answers JSON and nothing else, with the gateway's bindings, so
 * Miniflare starts the same services for both) and the gateway bundle as
 * `wrangler deploy --dry-run` builds it, interleaved. The gateway's cost is its figure minus the
 * floor's (workerd's own start-up is in both).
 *
 * The gateway is given to Miniflare as its one module, as an upload is. Given as a `scriptPath`
 * (the third path, "gateway, scriptPath"), Miniflare first parses the whole bundle in Node (with
 * acorn, to find its imports) before workerd sees it: local tooling's cost, not an isolate's.
 *
 * Then the built-in tokenizer's first use in a fresh isolate (what the first prompt-cached
 * request's classification pays, beside the upstream call): the gateway's way (rank table read
 * from R2, parsed, encoder built) against the rank table bundled as code, each over fresh isolates.
 *
 * Then the bundle's own start-up in the engine: a fresh Node process imports it (V8 parses,
 * compiles and runs its top-level code; `cloudflare:workers` stubbed, bench/v8-import.mjs), without
 * workerd's and Miniflare's start-up around it, which dominate the figures above.
 *
 * Environment: BENCH_COLDSTARTS (samples per path, default 10, at least 10), BENCH_BUNDLE (a
 * gateway index.js built elsewhere, e.g. from another commit, instead of building this tree's),
 * BENCH_BUNDLE_BASELINE (another build whose import is timed beside it, interleaved).
 * Loopback only; stops by itself.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { ROOT } from "../dev/stack.ts";
import { putTokenizerRanks } from "../dev/tokenizer-ranks.ts";
import { buildBundle } from "./workerd.ts";

const SAMPLES = Math.max(10, Number(process.env.BENCH_COLDSTARTS ?? 10));
const COMPAT = { compatibilityDate: "2026-04-20", compatibilityFlags: ["nodejs_compat"] };

const FLOOR_SCRIPT = `export default { fetch() { return Response.json({ status: "ok" }); } };`;
/** The floor with the gateway's bindings (same Miniflare services: Durable Object, queue, R2). */
const FLOOR_GATEWAY_SCRIPT = `import { DurableObject } from "cloudflare:workers";
export class RateLimiter extends DurableObject {}
export class ConcurrencyLimiter extends DurableObject {}
${FLOOR_SCRIPT}`;

/** Counts one short text with the built-in tokenizer, the gateway's way (R2) or from a bundled table. */
const TOKENIZER_R2_ENTRY = `
import { builtinCounter } from ${JSON.stringify(join(ROOT, "workers/gateway/src/tokenizer.ts"))};
export default { async fetch() { return new Response(String((await builtinCounter())("hello world"))); } };`;
const TOKENIZER_BUNDLED_ENTRY = `
export default { async fetch() { const m = await import("gpt-tokenizer/encoding/cl100k_base"); return new Response(String(m.countTokens("hello world"))); } };`;

interface Sample {
  startMs: number;
  firstMs: number;
}

type Options = ConstructorParameters<typeof Miniflare>[0];

async function coldStart(options: Options, path: string): Promise<Sample> {
  const t0 = performance.now();
  const mf = new Miniflare({ ...options, host: "127.0.0.1", port: 0 });
  try {
    const url = await mf.ready;
    const t1 = performance.now();
    const res = await fetch(new URL(path, url));
    const body = await res.text();
    const t2 = performance.now();
    if (!res.ok) throw new Error(`${path}: ${res.status} ${body.slice(0, 200)}`);
    return { startMs: t1 - t0, firstMs: t2 - t1 };
  } finally {
    await mf.dispose();
  }
}

function stats(xs: number[]): { min: number; median: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  return { min: round(s[0]!), median: round(s[Math.floor(s.length / 2)]!), max: round(s[s.length - 1]!) };
}

async function bundleEntry(source: string, dir: string, name: string): Promise<string> {
  const entry = join(dir, `${name}.ts`);
  writeFileSync(entry, source);
  const out = join(dir, `${name}.js`);
  await build({ entryPoints: [entry], outfile: out, bundle: true, minify: true, format: "esm", platform: "neutral", mainFields: ["module", "main"], conditions: ["workerd", "worker", "import"], external: ["cloudflare:*"], nodePaths: [join(ROOT, "node_modules")], logLevel: "error" });
  return out;
}

const dir = mkdtempSync(join(tmpdir(), "tollgate-coldstart-"));
try {
  const gatewayPath = process.env.BENCH_BUNDLE ?? buildBundle(join(ROOT, "wrangler.toml"), join(dir, "gateway"));
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(ROOT, "wrangler.toml"));
  const services = {
    ...workerOptions,
    ...COMPAT,
    bindings: { ...workerOptions.bindings, DATABASE_URL: "postgres://bench@127.0.0.1:9/none", ADMIN_TOKEN: "bench-admin-token-0123456789" },
  };
  // The bundle is one ES module (wrangler's dry run writes no other); declared, Miniflare hands it to workerd as is.
  const gateway = { ...services, modulesRoot: dirname(gatewayPath), modules: [{ type: "ESModule", path: gatewayPath, contents: readFileSync(gatewayPath, "utf8") }] } as Options;
  const gatewayScriptPath = { ...services, modules: true, scriptPath: gatewayPath, modulesRoot: dirname(gatewayPath) } as Options;
  const floor = { ...services, modules: true, script: FLOOR_GATEWAY_SCRIPT } as Options;
  const paths = { floor, gateway, gatewayScriptPath };

  const runs: Record<keyof typeof paths, Sample[]> = { floor: [], gateway: [], gatewayScriptPath: [] };
  await coldStart(floor, "/healthz"); // warm the OS caches for workerd's binary
  // Rotated, so no path always follows the same one.
  const names = Object.keys(paths) as (keyof typeof paths)[];
  for (let i = 0; i < SAMPLES; i++) {
    const order = [...names.slice(i % names.length), ...names.slice(0, i % names.length)];
    for (const name of order) runs[name].push(await coldStart(paths[name], "/healthz"));
  }

  const r2Persist = join(dir, "r2");
  const tokenizerR2: Options = { ...COMPAT, modules: true, scriptPath: await bundleEntry(TOKENIZER_R2_ENTRY, dir, "tokenizer-r2"), modulesRoot: dir, r2Buckets: { TOKENIZERS: "tollgate-tokenizers" }, r2Persist };
  const tokenizerBundled: Options = { ...COMPAT, modules: true, scriptPath: await bundleEntry(TOKENIZER_BUNDLED_ENTRY, dir, "tokenizer-bundled"), modulesRoot: dir };
  const seeder = new Miniflare({ ...COMPAT, modules: true, script: FLOOR_SCRIPT, r2Buckets: { TOKENIZERS: "tollgate-tokenizers" }, r2Persist });
  await putTokenizerRanks(seeder);
  await seeder.dispose();
  const tok: Record<"r2" | "bundled", Sample[]> = { r2: [], bundled: [] };
  for (let i = 0; i < SAMPLES; i++) {
    tok.r2.push(await coldStart(tokenizerR2, "/"));
    tok.bundled.push(await coldStart(tokenizerBundled, "/"));
  }

  // The bundle's top-level code in V8, fresh processes, interleaved with the baseline's if given.
  const importMs = (bundle: string) => Number(execFileSync(process.execPath, [join(ROOT, "bench/v8-import.mjs"), bundle], { encoding: "utf8" }).trim());
  const baselineBundle = process.env.BENCH_BUNDLE_BASELINE;
  const imports: Record<"gateway" | "baseline", number[]> = { gateway: [], baseline: [] };
  for (let i = 0; i < SAMPLES; i++) {
    imports.gateway.push(importMs(gatewayPath));
    if (baselineBundle) imports.baseline.push(importMs(baselineBundle));
  }

  const row = (label: string, xs: Sample[]) => {
    const s = stats(xs.map((x) => x.startMs));
    const f = stats(xs.map((x) => x.firstMs));
    console.log(`${label.padEnd(26)} start ${s.min} / ${s.median} / ${s.max} ms   first request ${f.min} / ${f.median} / ${f.max} ms`);
  };
  console.log(`cold starts: ${SAMPLES} per path, min / median / max`);
  row("floor", runs.floor);
  row("gateway", runs.gateway);
  row("gateway, scriptPath", runs.gatewayScriptPath);
  row("tokenizer from R2", tok.r2);
  row("tokenizer bundled", tok.bundled);
  const importRow = (label: string, xs: number[]) => {
    const s = stats(xs);
    console.log(`${label.padEnd(26)} import in V8 ${s.min} / ${s.median} / ${s.max} ms`);
  };
  importRow("gateway bundle", imports.gateway);
  if (baselineBundle) importRow("baseline bundle", imports.baseline);
  const med = (xs: Sample[], k: keyof Sample) => stats(xs.map((x) => x[k])).median;
  const total = (xs: Sample[]) => stats(xs.map((x) => x.startMs + x.firstMs));
  console.log(
    JSON.stringify({
      samples: SAMPLES,
      floor_start_ms: stats(runs.floor.map((x) => x.startMs)),
      gateway_start_ms: stats(runs.gateway.map((x) => x.startMs)),
      floor_first_request_ms: stats(runs.floor.map((x) => x.firstMs)),
      gateway_first_request_ms: stats(runs.gateway.map((x) => x.firstMs)),
      floor_total_ms: total(runs.floor),
      gateway_total_ms: total(runs.gateway),
      gateway_added_start_p50_ms: Math.round((med(runs.gateway, "startMs") - med(runs.floor, "startMs")) * 10) / 10,
      // What Miniflare's own parse of a `scriptPath` adds (local tooling, not workerd).
      gateway_script_path_start_ms: stats(runs.gatewayScriptPath.map((x) => x.startMs)),
      miniflare_parse_added_p50_ms: Math.round((med(runs.gatewayScriptPath, "startMs") - med(runs.gateway, "startMs")) * 10) / 10,
      tokenizer_first_use_r2_ms: stats(tok.r2.map((x) => x.firstMs)),
      tokenizer_first_use_bundled_ms: stats(tok.bundled.map((x) => x.firstMs)),
      gateway_import_ms: stats(imports.gateway),
      ...(baselineBundle ? { baseline_import_ms: stats(imports.baseline) } : {}),
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
