/**
 * Shared by the benchmarks that run our workers in workerd through Miniflare directly, without
 * `wrangler dev` (whose proxy worker, second workerd process and per-request log relay through
 * Node would be measured too, and on a 2-core machine compete with what is being measured).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { ROOT } from "../dev/stack.ts";

/** Bundles a worker exactly as `wrangler deploy` would (`--dry-run --outdir`); returns the entry module's path. */
export function buildBundle(configPath: string, outDir: string, minify = true): string {
  // wrangler needs the gateway's assets folder (the console's build) to exist; the script is what is measured.
  mkdirSync(join(ROOT, "web", "dist"), { recursive: true });
  execFileSync(process.execPath, [join(ROOT, "node_modules/wrangler/bin/wrangler.js"), "deploy", "--dry-run", "--outdir", outDir, "-c", configPath, ...(minify ? [] : ["--minify=false"])], {
    cwd: ROOT,
    stdio: "ignore",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  return join(outDir, "index.js");
}

/**
 * Miniflare options for one worker: everything its wrangler.toml declares (vars, queues with
 * their batch settings, Durable Objects, R2), running the bundle in `outDir`, with `secrets` added.
 */
export function workerFromConfig(name: string, configPath: string, outDir: string, secrets: Record<string, string>) {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(configPath);
  return {
    ...workerOptions,
    name,
    modules: true,
    scriptPath: buildBundle(configPath, outDir),
    modulesRoot: outDir,
    bindings: { ...workerOptions.bindings, ...secrets },
  };
}
