/**
 * The built-in tokenizer: gpt-tokenizer's cl100k_base encoding. Its name and version are the
 * index's `tokenizer_version`, so a tokenizer change never matches entries counted by another.
 * Only the encoder is code here; its 1.7 MB rank table is data the caller supplies (the gateway
 * reads it from R2 once per isolate, so it is not part of the worker's upload).
 */
import { GptEncoding } from "gpt-tokenizer/GptEncoding";
import type { PromptBlock } from "./markers.ts";
import { blockText } from "./prefix.ts";

export const BUILTIN_TOKENIZER_VERSION = "gpt-tokenizer@4.0.0/cl100k_base";
/** The rank table's object key: versioned, so a new gpt-tokenizer never reads an old table. */
export const BUILTIN_RANKS_KEY = `${BUILTIN_TOKENIZER_VERSION}.json`;

/** gpt-tokenizer's byte-pair ranks, as `gpt-tokenizer/bpeRanks/cl100k_base` exports them (JSON-safe). */
export type Ranks = (string | number[])[];

export type Counter = (text: string) => number;

/** A token counter over the cl100k_base encoding with the given rank table. */
export function counterFromRanks(ranks: Ranks): Counter {
  const encoding = GptEncoding.getEncodingApi("cl100k_base", () => ranks);
  return (text) => encoding.countTokens(text);
}

/**
 * Checks that a value read from storage is a rank table: an array of strings and byte arrays
 * (a hand check: a zod schema over 100k entries costs more than the rest of the first load).
 */
export function parseRanks(value: unknown): Ranks {
  if (!Array.isArray(value) || value.length < 100_000) throw new Error("tokenizer ranks: not a cl100k_base rank table");
  for (const entry of value) {
    if (typeof entry === "string") continue;
    if (!Array.isArray(entry) || !entry.every((b) => Number.isInteger(b) && b >= 0 && b < 256)) {
      throw new Error("tokenizer ranks: an entry is neither a string nor a byte array");
    }
  }
  return value as Ranks;
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
