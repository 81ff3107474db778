/**
 * Forwarding to the upstream: which client headers may pass, the upstream's own auth, the alias
 * swapped for the upstream's model name (and back), and upstream failures mapped to 502/504.
 */
import { ApiError } from "../../../shared/errors.ts";
import { FORWARDED_HEADERS } from "../../../shared/passed-headers.ts";
import { SecretOpener } from "../../../shared/secret-box.ts";
import type { GatewayConfig } from "./config.ts";
import type { UpstreamTarget } from "./lookups.ts";

export function upstreamUrl(endpointUrl: string, suffix: string): string {
  return endpointUrl.replace(/\/+$/, "") + suffix;
}

/** This isolate's opened upstream credentials (shared/secret-box.ts), for the configured ENCRYPTION_KEY. */
let credentials: SecretOpener | null = null;

export async function upstreamHeaders(client: Headers, route: UpstreamTarget, encryptionKey: string | undefined): Promise<Headers> {
  const headers = new Headers({ "content-type": "application/json" });
  for (const name of FORWARDED_HEADERS) {
    const value = client.get(name);
    if (value !== null) headers.set(name, value);
  }
  if (route.apiKeyEncrypted) {
    if (!encryptionKey) throw new ApiError("internal_error", "The gateway cannot decrypt upstream credentials: ENCRYPTION_KEY is not configured.");
    credentials = SecretOpener.for(credentials, encryptionKey);
    const secret = await credentials.open(route.apiKeyEncrypted);
    headers.set(route.authHeaderName, route.authHeaderPrefix + secret);
  }
  return headers;
}

export interface UpstreamCall {
  response: Response;
  /**
   * Stops the timeout. Call it once the answer is in hand: for a stream as soon as the headers
   * arrive (a stream may legitimately run longer than the timeout), for JSON after the body.
   */
  settled(): void;
}

/**
 * fetch() bounded by the upstream timeout (until `settled()`); network failures become 502 and
 * timeouts 504.
 */
export async function fetchUpstream(url: string, init: RequestInit, timeoutMs: number, endpointName: string): Promise<UpstreamCall> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException("upstream timeout", "TimeoutError")), timeoutMs);
  try {
    const response = await fetch(url, { ...init, signal: controller.signal });
    return { response, settled: () => clearTimeout(timer) };
  } catch (err) {
    clearTimeout(timer);
    throw upstreamFailure(err, controller.signal.aborted, timeoutMs, endpointName);
  }
}

/**
 * POSTs `payload` as JSON to the model's endpoint at `suffix` (e.g. `/chat/completions`), with the
 * endpoint's own credentials and the client's allow-listed headers, under the upstream timeout.
 */
export async function postUpstream(
  clientHeaders: Headers,
  model: UpstreamTarget,
  suffix: string,
  payload: unknown,
  config: Pick<GatewayConfig, "UPSTREAM_TIMEOUT_MS" | "ENCRYPTION_KEY">,
): Promise<UpstreamCall> {
  return fetchUpstream(
    upstreamUrl(model.url, suffix),
    { method: "POST", headers: await upstreamHeaders(clientHeaders, model, config.ENCRYPTION_KEY), body: JSON.stringify(payload) },
    config.UPSTREAM_TIMEOUT_MS,
    model.endpointName,
  );
}

/** True when the upstream answered a successful event stream the gateway should relay. */
export function isEventStream(upstream: Response): boolean {
  return upstream.ok && upstream.body !== null && (upstream.headers.get("content-type") ?? "").includes("text/event-stream");
}

/**
 * A non-streamed answer's whole body, still under the upstream timeout (a failure mid-body is a
 * 502 or 504 like one before it); the timeout stops either way.
 */
export async function readUpstreamText(call: UpstreamCall, timeoutMs: number, endpointName: string): Promise<string> {
  try {
    return await call.response.text();
  } catch (err) {
    throw upstreamFailure(err, false, timeoutMs, endpointName);
  } finally {
    call.settled();
  }
}

/** The error to answer with when talking to the upstream failed (during fetch or a body read). */
export function upstreamFailure(err: unknown, timedOut: boolean, timeoutMs: number, endpointName: string): ApiError {
  if (timedOut || (err instanceof Error && err.name === "TimeoutError")) {
    return new ApiError("upstream_timeout", `The model server '${endpointName}' did not answer within ${timeoutMs} ms.`);
  }
  return new ApiError("upstream_error", `The model server '${endpointName}' could not be reached. Try again; if it persists, check the endpoint's URL.`);
}
