/**
 * The built-in tokenizer's rank table, read from the TOKENIZERS bucket on first use and kept for
 * the isolate's life, so the table is not part of the worker's upload. A missing object fails
 * classification only, which bills the request uncached at list price; the next request tries again. `npm run tokenizer:upload` puts it there (`npm start` does it locally).
 */
import { env } from "cloudflare:workers";
import { BUILTIN_RANKS_KEY, counterFromRanks, parseRanks, type Counter } from "../../../shared/prompt-cache/tokenizer.ts";

let counter: Promise<Counter> | null = null;

export function builtinCounter(): Promise<Counter> {
  counter ??= loadCounter().catch((err: unknown) => {
    counter = null;
    throw err;
  });
  return counter;
}

async function loadCounter(): Promise<Counter> {
  const object = await env.TOKENIZERS.get(BUILTIN_RANKS_KEY);
  if (!object) throw new Error(`tokenizer ranks ${BUILTIN_RANKS_KEY} are missing from the TOKENIZERS bucket: run npm run tokenizer:upload`);
  return counterFromRanks(parseRanks(await object.json()));
}
