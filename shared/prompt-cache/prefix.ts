/**
 * Prefix identity: a SHA-256 chain over the canonical blocks, so the hash at block i identifies
 * the whole prompt up to and including block i (cumulative at every position, breakpoints
 * included). Canonical JSON sorts object keys, so key order in a client's JSON never matters.
 */
import { toHex } from "../hex.ts";
import type { PromptBlock } from "./markers.ts";

const encoder = new TextEncoder();
const CHAIN_SEED = "tollgate-prefix-v1";

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** hashes[i] = SHA-256(hashes[i-1] || canonical(block i)); hashes[-1] is a fixed seed. */
export async function prefixHashes(blocks: readonly PromptBlock[]): Promise<string[]> {
  const out: string[] = [];
  let previous = CHAIN_SEED;
  for (const block of blocks) {
    previous = toHex(await crypto.subtle.digest("SHA-256", encoder.encode(previous + "\n" + canonicalJson(block))));
    out.push(previous);
  }
  return out;
}

/** The text a block contributes to the prompt, for counting its tokens. */
export function blockText(block: PromptBlock): string {
  const part = block.part as { type?: unknown; text?: unknown } | null;
  if (part && typeof part === "object" && part.type === "text" && typeof part.text === "string") return part.text;
  return canonicalJson(block.part);
}
