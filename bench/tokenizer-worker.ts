/** Worker for bench/tokenizer.ts: counts tokens of a generated text with the built-in tokenizer. */
import ranks from "gpt-tokenizer/bpeRanks/cl100k_base";
import { counterFromRanks, type Counter } from "../shared/prompt-cache/tokenizer.ts";

let counter: Counter | null = null;

const WORDS = ["cache", "prompt", "gateway", "tokens", "billing", "the", "of", "and", "streaming", "ledger", "résumé", "数据", "🙂"];

function text(words: number): string {
  let out = "";
  for (let i = 0; i < words; i++) out += WORDS[(i * 7919) % WORDS.length] + (i % 13 === 0 ? ".\n" : " ");
  return out;
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/noop") return new Response("0");
    const words = Number(url.searchParams.get("words") ?? "1000");
    const input = text(words);
    // The first use builds the encoder from the rank table (the gateway reads the table from R2 first).
    counter ??= counterFromRanks(ranks);
    const count = counter;
    return new Response(String(count(input)));
  },
};
