/**
 * The built-in tokenizer: gpt-tokenizer's cl100k_base encoding. Its name and version are the
 * index's `tokenizer_version`, so a tokenizer change never matches entries counted by another.
 * The encoding's 1.2 MB rank table is imported on first use, not at isolate start-up.
 */
import type { PromptBlock } from "./markers.ts";
import { blockText } from "./prefix.ts";

export const BUILTIN_TOKENIZER_VERSION = "gpt-tokenizer@4.0.0/cl100k_base";

type Counter = (text: string) => number;
let counter: Promise<Counter> | null = null;

export function builtinCounter(): Promise<Counter> {
  counter ??= import("gpt-tokenizer/encoding/cl100k_base").then((m) => (text: string) => m.countTokens(text));
  return counter;
}

/** Tokens up to and including each block. Yields between blocks so other work in the isolate (a stream being relayed) is not held up, and stops when aborted. */
export async function cumulativeTokens(blocks: readonly PromptBlock[], count: Counter, signal?: AbortSignal): Promise<number[]> {
  const out: number[] = [];
  let total = 0;
  for (const block of blocks) {
    if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error("aborted");
    total += count(blockText(block));
    out.push(total);
    await new Promise((r) => setTimeout(r, 0));
  }
  return out;
}
