/**
 * Which requests may speak for a batch. The `x-fusillade-*` headers choose the tariff (completion
 * window, batch creation time), so they are read only from `batch`-purpose keys — keys minted for
 * a trusted batch runner — and checked (shared/batch-headers.ts); from any other key they are
 * ignored. Tollgate's own runner (the Batches API) sets the metadata without headers: see BatchCall.
 */
import { BatchHeaderError, batchInfoFrom } from "../../../shared/batch-headers.ts";
import { ApiError } from "../../../shared/errors.ts";
import type { BatchInfo } from "../../../shared/usage-message.ts";
import type { GatewayConfig } from "./config.ts";
import type { KeyRecord } from "./lookups.ts";

/** The batch metadata a request may carry: a `batch` key's, checked (400 naming the header), else none. */
export function trustedBatchInfo(key: KeyRecord, headers: Headers, config: GatewayConfig, now: number): BatchInfo | null {
  if (key.purpose !== "batch") return null;
  try {
    return batchInfoFrom(headers, config.BATCH_COMPLETION_WINDOWS, now);
  } catch (err) {
    if (err instanceof BatchHeaderError) throw new ApiError("invalid_request_error", err.message, { param: err.header });
    throw err;
  }
}

/**
 * A request Tollgate's own batch runner makes through the gateway's proxy path (batch-runner.ts):
 * which key it runs as (by hash: the runner never holds a secret) and the batch metadata to meter
 * it with. Known only for Request objects the runner built in this isolate (a WeakMap keyed by the
 * object itself), so no header or body a client can send is able to claim it.
 */
export interface BatchCall {
  keyHash: string;
  batch: BatchInfo;
}

const internalCalls = new WeakMap<Request, BatchCall>();

/** A POST to the gateway's own `path` (e.g. `/ai/v1/chat/completions`) that runs as `call`. */
export function internalBatchRequest(path: string, body: string, call: BatchCall): Request {
  const req = new Request(`https://tollgate.internal${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", "user-agent": "tollgate-batch/1" },
    body,
  });
  internalCalls.set(req, call);
  return req;
}

/** The runner's call this request is, or null for every request from outside. */
export function batchCallOf(req: Request): BatchCall | null {
  return internalCalls.get(req) ?? null;
}
