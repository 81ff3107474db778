/**
 * The external tokenizer-service protocol (the reference's), for deployments whose model counts
 * tokens differently from the built-in tokenizer:
 *
 *   GET  {url}/v1/models    → {"models": [{"alias", "hf_repo", "tokenizer_version"}, …]}
 *   POST {url}/v1/tokenize  {"model": alias, "segments": ["…", …]}
 *                           → {"virtual_model", "tokenizer_version", "segment_counts": [n, …],
 *                              "cumulative": [c, …], "total": t}
 *
 * Tollgate sends one segment per prompt block (the canonical block text), so `cumulative[i]` is
 * the prefix's token count up to block i. An answer that is not self-consistent (lengths, sums,
 * order, version) is rejected: a wrong count would misbill, and the caller then bills uncached.
 */
import * as z from "zod";

const ModelsAnswer = z.object({
  models: z.array(z.object({ alias: z.string(), tokenizer_version: z.string().min(1).max(200) }).loose()),
});

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const TokenizeAnswer = z.object({
  tokenizer_version: z.string().min(1).max(200),
  segment_counts: z.array(count),
  cumulative: z.array(count),
  total: count,
});

export interface TokenizeResult {
  tokenizerVersion: string;
  /** Tokens up to and including each segment. */
  cumulative: number[];
}

function endpoint(base: string, path: string): string {
  return base.replace(/\/+$/, "") + path;
}

async function json(res: Response, what: string): Promise<unknown> {
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`tokenizer service answered ${res.status} to ${what}`);
  }
  return res.json();
}

/** The tokenizer version the service uses for `alias`; throws when it does not serve the alias. */
export async function tokenizerVersionFor(baseUrl: string, alias: string, signal?: AbortSignal, fetchImpl: typeof fetch = fetch): Promise<string> {
  const parsed = ModelsAnswer.parse(await json(await fetchImpl(endpoint(baseUrl, "/v1/models"), { signal }), "GET /v1/models"));
  const model = parsed.models.find((m) => m.alias === alias);
  if (!model) throw new Error(`tokenizer service does not serve '${alias}'`);
  return model.tokenizer_version;
}

/** Counts `segments` for `alias`; validates the answer against itself and the expected version. */
export async function tokenizeSegments(
  baseUrl: string,
  alias: string,
  segments: readonly string[],
  expectedVersion: string,
  signal?: AbortSignal,
  fetchImpl: typeof fetch = fetch,
): Promise<TokenizeResult> {
  const res = await fetchImpl(endpoint(baseUrl, "/v1/tokenize"), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: alias, segments }),
    signal,
  });
  const answer = TokenizeAnswer.parse(await json(res, "POST /v1/tokenize"));
  if (answer.tokenizer_version !== expectedVersion) {
    throw new Error(`tokenizer service changed version (${expectedVersion} → ${answer.tokenizer_version})`);
  }
  const n = segments.length;
  if (answer.segment_counts.length !== n || answer.cumulative.length !== n) {
    throw new Error(`tokenizer service counted ${answer.cumulative.length} segments of ${n}`);
  }
  let running = 0;
  for (let i = 0; i < n; i++) {
    running += answer.segment_counts[i]!;
    if (answer.cumulative[i] !== running) throw new Error(`tokenizer service's cumulative count disagrees with its segment counts at ${i}`);
  }
  if (answer.total !== running) throw new Error("tokenizer service's total disagrees with its segment counts");
  return { tokenizerVersion: answer.tokenizer_version, cumulative: answer.cumulative };
}
