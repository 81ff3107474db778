import type { RequestDb } from "./access.ts";
import type { AfterAnswer } from "./after-answer.ts";
import type { Identity } from "./admin-auth.ts";
import type { GatewayConfig } from "./config.ts";
import type { BatchCall } from "./batch-trust.ts";
import type { Meter } from "./meter.ts";

/** Hono generics for the gateway: bindings from `wrangler types`, request-scoped state in Variables. */
export interface GatewayApp {
  Bindings: GatewayEnv;
  Variables: {
    config: GatewayConfig;
    /** The request's lazy database handle (init.ts closes it after the request). */
    database: RequestDb;
    meter: Meter;
    /** Inference only: work held until the answer is on its way (after-answer.ts). */
    afterAnswer: AfterAnswer;
    /** Set only on the batch runner's own in-process calls (batch-trust.ts). */
    batchCall: BatchCall | null;
    /** The admin API caller, as the door established them (admin-auth.ts). */
    identity: Identity;
    /** The upstream's response headers, for the allow-listed pass-through (headers.ts). */
    upstreamHeaders: Headers;
    /** Headers of the gateway's own for the client's response, whatever it is (its rate-limit headers; headers.ts). */
    gatewayHeaders: Record<string, string>;
  };
}
