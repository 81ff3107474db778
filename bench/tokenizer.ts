/**
 * `npm run bench:tokenizer` — CPU cost of the built-in tokenizer inside workerd, per 1,000
 * tokens, and its one-time load. Timers do not advance inside a running worker, so cost is
 * measured from outside: the round trip of counting a large text minus a no-op round trip.
 */
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Miniflare } from "miniflare";

const entry = fileURLToPath(new URL("./tokenizer-worker.ts", import.meta.url));
const bundle = await build({ entryPoints: [entry], bundle: true, format: "esm", platform: "neutral", write: false, mainFields: ["module", "main"], conditions: ["workerd", "worker", "import"] });
const mf = new Miniflare({ modules: true, script: bundle.outputFiles[0]!.text, compatibilityDate: "2026-04-20", compatibilityFlags: ["nodejs_compat"] });
const url = await mf.ready;

async function timed(path: string): Promise<{ ms: number; body: string }> {
  const t = performance.now();
  const res = await fetch(new URL(path, url));
  const body = await res.text();
  return { ms: performance.now() - t, body };
}

try {
  await timed("/noop");
  const cold = await timed("/count?words=10");
  const noop: number[] = [];
  const big: { ms: number; tokens: number }[] = [];
  for (let i = 0; i < 15; i++) {
    noop.push((await timed("/noop")).ms);
    const r = await timed("/count?words=60000");
    big.push({ ms: r.ms, tokens: Number(r.body) });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const perThousand = (median(big.map((b) => b.ms)) - median(noop)) / (big[0]!.tokens / 1000);
  console.log(`first use (loads the encoding): ${cold.ms.toFixed(1)} ms`);
  console.log(`counting ${big[0]!.tokens} tokens: ${median(big.map((b) => b.ms)).toFixed(1)} ms median (no-op round trip ${median(noop).toFixed(2)} ms)`);
  console.log(JSON.stringify({ tokenizer_cpu_ms_per_1k_tokens: Math.round(perThousand * 1000) / 1000, tokenizer_first_use_ms: Math.round(cold.ms), tokens_per_call: big[0]!.tokens }));
} finally {
  await mf.dispose();
}
