/**
 * A worker that runs only the gateway's rate limiting, for `test/unit/rate-limit-isolates.test.ts` (bundled there):
 * two copies of it run as two isolates sharing one RateLimiter object. `GET /?rps=&burst=` checks
 * one key's limit and answers 200 with the limit headers or the gateway's 429; `GET /calls` and
 * `GET /asks` count the object's calls, and its leases asked for by a request that found no token.
 */
import { ApiError } from "../../../shared/errors.ts";
import { enforceRateLimits, RateLimiter as GatewayRateLimiter } from "../../../workers/gateway/src/rate-limiter.ts";
import type { KeyRecord, ModelRecord } from "../../../workers/gateway/src/lookups.ts";

/** The gateway's object, counting the calls it receives (`GET /calls`). */
export class RateLimiter extends GatewayRateLimiter {
  private calls = 0;
  /** Leases asked for because a request found no token (not leased ahead). */
  private asks = 0;

  override lease(...args: Parameters<GatewayRateLimiter["lease"]>) {
    this.calls++;
    if (!args[4]) this.asks++;
    return super.lease(...args);
  }

  override settle(...args: Parameters<GatewayRateLimiter["settle"]>) {
    this.calls++;
    return super.settle(...args);
  }

  callCount(): number {
    return this.calls;
  }

  askCount(): number {
    return this.asks;
  }
}

interface Env {
  RATE_LIMITER: DurableObjectNamespace<GatewayRateLimiter>;
  /** The same namespace, typed as the counting class. */
  COUNTED: DurableObjectNamespace<RateLimiter>;
}

const MODEL: ModelRecord = {
  modelId: "m",
  alias: "m",
  modelName: "m",
  endpointName: "e",
  url: "http://127.0.0.1:9",
  apiKeyEncrypted: null,
  authHeaderName: "authorization",
  authHeaderPrefix: "Bearer ",
  requestsPerSecond: null,
  burstSize: null,
  tariffs: [],
  cache: null,
  tokenizerUrl: null,
  responsesViaChat: false,
  onClientDisconnect: "cancel",
  cacheTariffs: [],
  routing: null,
  capacity: null,
};

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const keyId = url.searchParams.get("key") ?? "k";
    if (url.pathname === "/calls") {
      return Response.json(await env.COUNTED.get(env.COUNTED.idFromName(`key:${keyId}`)).callCount());
    }
    if (url.pathname === "/asks") {
      return Response.json(await env.COUNTED.get(env.COUNTED.idFromName(`key:${keyId}`)).askCount());
    }
    const key: KeyRecord = { id: keyId, userId: "u", purpose: "realtime", requestsPerSecond: Number(url.searchParams.get("rps")), burstSize: Number(url.searchParams.get("burst")) };
    try {
      return new Response("ok", { headers: await enforceRateLimits(env.RATE_LIMITER, key, MODEL, (p) => ctx.waitUntil(p)) });
    } catch (err) {
      if (err instanceof ApiError) return err.toResponse();
      throw err;
    }
  },
} satisfies ExportedHandler<Env>;
