/**
 * The built-in tokenizer's rank table, which the gateway reads from its TOKENIZERS R2 bucket
 * instead of bundling it (see workers/gateway/src/tokenizer.ts).
 *
 * `npm run tokenizer:upload` puts it into the deployed bucket (once per gpt-tokenizer version: the
 * object key names the version); extra arguments go to `wrangler r2 object put`. `npm start` fills
 * its local bucket itself (`seedLocalTokenizerRanks`).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ranks from "gpt-tokenizer/bpeRanks/cl100k_base";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { BUILTIN_RANKS_KEY } from "../shared/prompt-cache/tokenizer.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const GATEWAY_CONFIG = join(ROOT, "wrangler.toml");

/** The object the gateway expects under BUILTIN_RANKS_KEY in its TOKENIZERS bucket. */
export function builtinRanksJson(): string {
  return JSON.stringify(ranks);
}

/** The gateway's TOKENIZERS bucket name, from wrangler.toml. */
function tokenizersBucket(): string {
  const buckets = unstable_getMiniflareWorkerOptions(GATEWAY_CONFIG).workerOptions.r2Buckets;
  const bucket = buckets && !Array.isArray(buckets) ? buckets.TOKENIZERS : undefined;
  const name = typeof bucket === "string" ? bucket : bucket?.id;
  if (!name) throw new Error("wrangler.toml has no TOKENIZERS R2 bucket");
  return name;
}

/** The slice of R2Bucket used here (the runtime's type is not in Node's type scope). */
interface RanksBucket {
  head(key: string): Promise<object | null>;
  put(key: string, value: string): Promise<unknown>;
}

/** Puts the table into the TOKENIZERS bucket of a running Miniflare, unless it is there. */
export async function putTokenizerRanks(mf: Miniflare, workerName?: string): Promise<void> {
  const { TOKENIZERS } = await mf.getBindings<{ TOKENIZERS: RanksBucket }>(workerName);
  if (!(await TOKENIZERS.head(BUILTIN_RANKS_KEY))) await TOKENIZERS.put(BUILTIN_RANKS_KEY, builtinRanksJson());
}

/**
 * Fills the TOKENIZERS bucket of a local `wrangler dev --persist-to persistTo` (unless it holds
 * the table already). Through Miniflare, in-process: `wrangler r2 object put --local` takes
 * several times longer.
 */
export async function seedLocalTokenizerRanks(persistTo: string): Promise<void> {
  const mf = new Miniflare({ modules: true, script: "export default {}", r2Buckets: { TOKENIZERS: tokenizersBucket() }, r2Persist: join(persistTo, "v3", "r2") });
  try {
    await putTokenizerRanks(mf);
  } finally {
    await mf.dispose();
  }
}

/** `wrangler r2 object put` of the table into the deployed bucket (`wranglerArgs` are passed on). */
function uploadTokenizerRanks(wranglerArgs: readonly string[]): void {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-ranks-"));
  try {
    const file = join(dir, "ranks.json");
    writeFileSync(file, builtinRanksJson());
    const target = `${tokenizersBucket()}/${BUILTIN_RANKS_KEY}`;
    execFileSync(
      process.execPath,
      [join(ROOT, "node_modules/wrangler/bin/wrangler.js"), "r2", "object", "put", target, "--file", file, "--content-type", "application/json", "-c", GATEWAY_CONFIG, ...wranglerArgs],
      { cwd: ROOT, stdio: "inherit" },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  uploadTokenizerRanks(args.includes("--local") ? args : ["--remote", ...args]);
}
