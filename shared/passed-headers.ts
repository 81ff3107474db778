/**
 * Which HTTP headers cross the gateway, both ways: allow-lists, so nothing else does. The gateway
 * applies them (workers/gateway/src/proxy.ts and headers.ts); bench:gateway's bare relay sends and
 * answers the same ones, so its first byte pays what the gateway's contract costs.
 */

/**
 * Client headers forwarded upstream. Credentials (Authorization, Cookie, provider keys),
 * hop-by-hop headers (RFC 9110 §7.6.1) and Cloudflare's own never leak through.
 */
export const FORWARDED_HEADERS: readonly string[] = ["accept", "accept-language", "user-agent", "traceparent", "tracestate", "openai-beta", "x-stainless-lang"];

/** Upstream response headers the client receives by name (besides every `x-ratelimit-*`). */
export const PASSED_UPSTREAM_HEADERS: ReadonlySet<string> = new Set(["x-request-id", "openai-processing-ms", "openai-version"]);

/** Every upstream response header whose name starts with this reaches the client too. */
export const PASSED_UPSTREAM_PREFIX = "x-ratelimit-";

/** True for an upstream response header the client receives: the allow-list and `x-ratelimit-*`. */
export function isPassedUpstreamHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return PASSED_UPSTREAM_HEADERS.has(lower) || lower.startsWith(PASSED_UPSTREAM_PREFIX);
}

/** Headers a browser client may read from a cross-origin answer (the SDKs read these). */
export const EXPOSED_HEADERS: readonly string[] = [
  "x-request-id",
  "openai-processing-ms",
  "openai-version",
  "x-ratelimit-limit-requests",
  "x-ratelimit-remaining-requests",
  "x-ratelimit-reset-requests",
  "x-ratelimit-limit-tokens",
  "x-ratelimit-remaining-tokens",
  "x-ratelimit-reset-tokens",
  "retry-after",
  "x-tollgate-event-id",
  "x-tollgate-cost",
];
