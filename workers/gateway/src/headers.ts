/**
 * Response headers clients rely on: the upstream's request id, timing, API version and rate-limit
 * headers passed through (an allow-list: nothing else of the upstream's reaches the client), and
 * CORS for the inference API so browser clients can call it with their bearer keys.
 */
import type { Context } from "hono";
import { cors } from "hono/cors";
import { createMiddleware } from "hono/factory";
import { EXPOSED_HEADERS, isPassedUpstreamHeader } from "../../../shared/passed-headers.ts";
import { gatewayConfig } from "./config.ts";
import type { GatewayApp } from "./types.ts";

/**
 * Puts the gateway's own headers for this request (`c.var.gatewayHeaders`: its rate-limit headers)
 * on the client's response, whatever it is (an error answered after the limits were checked too),
 * then copies the allow-listed headers of the upstream's response (`c.var.upstreamHeaders`, set by
 * the handler once it has the upstream's answer). A header the gateway set itself is never
 * overwritten by the upstream's.
 */
export function passUpstreamHeaders(c: Context<GatewayApp>): void {
  const own = c.get("gatewayHeaders");
  const upstream = c.get("upstreamHeaders");
  if (!own && !upstream) return;
  editResponseHeaders(c, (headers) => {
    if (own) for (const name in own) headers.set(name, own[name]!);
    // forEach: about half the runtime's cost of for…of over Headers (which makes a pair per entry).
    upstream?.forEach((value, name) => {
      if (isPassedUpstreamHeader(name) && !headers.has(name)) headers.set(name, value);
    });
  });
}

/** The Access-Control-Allow-Origin for a request's Origin under CORS_ALLOWED_ORIGINS, or null. */
function allowedOrigin(origin: string, env: GatewayEnv): string | null {
  const allowed = gatewayConfig(env).CORS_ALLOWED_ORIGINS;
  if (allowed === "*") return "*";
  return allowed.includes(origin) ? origin : null;
}

/** Hono's CORS, for preflight `OPTIONS` (answered here, never reaching a handler). */
const preflight = cors({
  origin: (origin, c) => allowedOrigin(origin, c.env as GatewayEnv),
  allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
  exposeHeaders: [...EXPOSED_HEADERS],
  maxAge: 86_400,
});
const EXPOSED_HEADERS_VALUE = EXPOSED_HEADERS.join(",");

/**
 * Sets headers on the response `c.res` holds. Every response the gateway builds has mutable
 * headers; one that does not (a response passed through as it came) is re-wrapped first, as
 * Hono's own `c.header()` would.
 */
export function editResponseHeaders(c: Context, edit: (headers: Headers) => void): void {
  try {
    edit(c.res.headers);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    c.res = new Response(c.res.body, c.res);
    edit(c.res.headers);
  }
}

/**
 * CORS for `/ai/*`: bearer keys and no cookies, so any origin in `CORS_ALLOWED_ORIGINS` (default
 * `*`) may call it; preflight `OPTIONS` answers 204 with the requested headers allowed. The admin
 * API gets no CORS headers at all, so browsers never let another origin read it.
 *
 * Other requests get the headers Hono's `cors` would give them (Access-Control-Allow-Origin when
 * allowed, Access-Control-Expose-Headers, `Vary: Origin`), set on the handler's response after
 * it: Hono's middleware sets them on `c.res` before the handler runs, which makes Hono build a
 * placeholder response and then copy the handler's response and its headers into a new one, and
 * appends `Vary` with `c.header()`, which copies the response once more (3 Response objects per
 * request instead of 1; measured with bench:gateway, see docs/benchmarks.md).
 */
export const inferenceCors = createMiddleware<GatewayApp>(async function inferenceCors(c, next) {
  if (c.req.method === "OPTIONS") return preflight(c, next);
  const origin = allowedOrigin(c.req.header("origin") || "", c.env);
  await next();
  editResponseHeaders(c, (headers) => {
    if (origin) headers.set("access-control-allow-origin", origin);
    headers.set("access-control-expose-headers", EXPOSED_HEADERS_VALUE);
    headers.append("vary", "Origin");
  });
});
