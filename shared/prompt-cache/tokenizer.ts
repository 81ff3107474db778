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

/** Remembered totals: the cumulative count at block i, when already known. */
export interface KnownCounts {
  get(i: number): number | undefined;
  set(i: number, total: number): void;
}

/**
 * Tokens up to and including each block. Blocks whose total is known are not counted again, and
 * the tokenizer is only loaded if some block needs counting. Yields between counted blocks so
 * other work in the isolate (a stream being relayed) is not held up; stops when aborted.
 */
export async function cumulativeTokens(
  blocks: readonly PromptBlock[],
  counter: () => Promise<Counter>,
  signal?: AbortSignal,
  known?: KnownCounts,
): Promise<number[]> {
  const out: number[] = [];
  let total = 0;
  let count: Counter | null = null;
  for (let i = 0; i < blocks.length; i++) {
    const remembered = known?.get(i);
    if (remembered !== undefined) {
      total = remembered;
    } else {
      if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error("aborted");
      count ??= await counter();
      total += count(blockText(blocks[i]!));
      known?.set(i, total);
      await new Promise((r) => setTimeout(r, 0));
    }
    out.push(total);
  }
  return out;
}
