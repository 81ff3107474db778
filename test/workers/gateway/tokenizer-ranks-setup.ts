/**
 * Setup file of the gateway project: puts the built-in tokenizer's rank table into the local
 * TOKENIZERS bucket, where the gateway reads it (as `npm run tokenizer:upload` does in production).
 */
import { env } from "cloudflare:workers";
import ranks from "gpt-tokenizer/bpeRanks/cl100k_base";
import { beforeAll } from "vitest";
import { BUILTIN_RANKS_KEY } from "../../../shared/prompt-cache/tokenizer.ts";

beforeAll(async () => {
  if (!(await env.TOKENIZERS.head(BUILTIN_RANKS_KEY))) await env.TOKENIZERS.put(BUILTIN_RANKS_KEY, JSON.stringify(ranks));
});
