/**
 * `npm run web:budget`: the JavaScript the console's first page loads (the entry, the overview
 * route and its chart, with every chunk they import statically) must stay within 250 KB gzip.
 * Reads web/dist/.vite/manifest.json, so run it after `npm run web:build`. Exits 1 over budget.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET_BYTES = 250 * 1024;
const dist = join(import.meta.dirname, "..", "web", "dist");

interface Chunk {
  file: string;
  name?: string;
  src?: string;
  isEntry?: boolean;
  imports?: string[];
}
const manifest = JSON.parse(readFileSync(join(dist, ".vite", "manifest.json"), "utf8")) as Record<string, Chunk>;

/** The chunk and everything it imports statically (what the browser must load before it runs). */
function closure(key: string, seen = new Set<string>()): Set<string> {
  if (seen.has(key)) return seen;
  seen.add(key);
  for (const dep of manifest[key]?.imports ?? []) closure(dep, seen);
  return seen;
}

const find = (pred: (c: Chunk) => boolean, what: string): string => {
  const key = Object.keys(manifest).find((k) => pred(manifest[k]!));
  if (!key) throw new Error(`web budget: no ${what} chunk in the manifest`);
  return key;
};
const firstPage = new Set<string>();
for (const key of [
  find((c) => c.isEntry === true, "entry"),
  find((c) => c.src === "src/pages/overview.tsx", "overview"),
  find((c) => c.src === "src/components/usage-chart.tsx", "chart"),
]) {
  for (const k of closure(key)) firstPage.add(k);
}

let total = 0;
const rows: [string, number][] = [];
for (const key of firstPage) {
  const file = manifest[key]!.file;
  const size = gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;
  total += size;
  rows.push([file, size]);
}
for (const [file, size] of rows.sort((a, b) => b[1] - a[1])) console.log(`  ${(size / 1024).toFixed(1).padStart(7)} KB  ${file}`);
console.log(`first page JS: ${(total / 1024).toFixed(1)} KB gzip (budget ${BUDGET_BYTES / 1024} KB)`);
if (total > BUDGET_BYTES) {
  console.error("over budget: lazy-load more of it (routes, charts, the API reference)");
  process.exit(1);
}
