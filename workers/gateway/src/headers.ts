/**
 * Response headers clients rely on: the upstream's request id, timing, API version and rate-limit
 * headers passed through (an allow-list: nothing else of the upstream's reaches the client), and
 * CORS for the inference API so browser clients can call it with their bearer keys.
 */
import { cors } from "hono/cors";
import { createMiddleware } from "hono/factory";
import { gatewayConfig } from "./config.ts";
import type { GatewayApp } from "./types.ts";

const PASSED_UPSTREAM_HEADERS = new Set(["x-request-id", "openai-processing-ms", "openai-version"]);

/** True for an upstream response header the client receives: the allow-list and `x-ratelimit-*`. */
export function isPassedUpstreamHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return PASSED_UPSTREAM_HEADERS.has(lower) || lower.startsWith("x-ratelimit-");
}

/**
 * Copies the allow-listed headers of the upstream's response (`c.var.upstreamHeaders`, set by the
 * handler once it has the upstream's answer) onto the client's response. A header the gateway set
 * itself (its own rate-limit headers) is never overwritten.
 */
export const passUpstreamHeaders = createMiddleware<GatewayApp>(async function passUpstreamHeaders(c, next) {
  await next();
  const upstream = c.get("upstreamHeaders");
  if (!upstream) return;
  const headers = c.res.headers;
  for (const [name, value] of upstream) {
    if (isPassedUpstreamHeader(name) && !headers.has(name)) headers.set(name, value);
  }
});

/** Headers a browser client may read from a cross-origin answer (the SDKs read these). */
export const EXPOSED_HEADERS = [
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

/**
 * CORS for `/ai/*`: bearer keys and no cookies, so any origin in `CORS_ALLOWED_ORIGINS` (default
 * `*`) may call it; preflight `OPTIONS` answers 204 with the requested headers allowed. The admin
 * API gets no CORS headers at all, so browsers never let another origin read it.
 */
export const inferenceCors = cors({
  origin: (origin, c) => {
    const allowed = gatewayConfig(c.env as GatewayEnv).CORS_ALLOWED_ORIGINS;
    if (allowed === "*") return "*";
    return allowed.includes(origin) ? origin : null;
  },
  allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
  exposeHeaders: EXPOSED_HEADERS,
  maxAge: 86_400,
});
