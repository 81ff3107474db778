/**
 * Tollgate's own token count, for a response whose upstream reported no usable usage: the
 * model's tokenizer service (`tokenizer_url`, shared/prompt-cache/tokenizer-service.ts) when it
 * has one, else — or when the service fails — the built-in tokenizer. Runs after the response,
 * in `waitUntil`.
 */
import { builtinCounter } from "./tokenizer.ts";
import { errorMessage } from "../../../shared/errors.ts";
import { tokenizeSegments, tokenizerVersionFor } from "../../../shared/prompt-cache/tokenizer-service.ts";
import { promptSegments } from "../../../shared/metering.ts";
import type { ModelRecord } from "./lookups.ts";

/** How long the tokenizer service may take before the built-in tokenizer counts instead. */
const SERVICE_DEADLINE_MS = 5_000;

export interface TokenCounter {
  /** Tokens of the request's prompt. */
  prompt(): Promise<number>;
  /** Tokens of generated text. */
  text(text: string): Promise<number>;
}

async function builtin(segments: readonly string[]): Promise<number> {
  const count = await builtinCounter();
  let total = 0;
  for (const s of segments) total += count(s);
  return total;
}

async function count(model: Pick<ModelRecord, "alias" | "tokenizerUrl">, segments: readonly string[]): Promise<number> {
  if (segments.length === 0) return 0;
  const url = model.tokenizerUrl;
  if (url) {
    try {
      const signal = AbortSignal.timeout(SERVICE_DEADLINE_MS);
      const version = await tokenizerVersionFor(url, model.alias, signal);
      const counted = await tokenizeSegments(url, model.alias, segments, version, signal);
      return counted.cumulative[counted.cumulative.length - 1] ?? 0;
    } catch (err) {
      console.warn(`tokenizer service for '${model.alias}' failed (${errorMessage(err)}): counted with the built-in tokenizer`);
    }
  }
  return builtin(segments);
}

/** A counter for one request to `model` with this body. */
export function tokenCounter(model: Pick<ModelRecord, "alias" | "tokenizerUrl">, body: Record<string, unknown>): TokenCounter {
  return {
    prompt: () => count(model, promptSegments(body)),
    text: (text) => count(model, text ? [text] : []),
  };
}
