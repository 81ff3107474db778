/**
 * Which requests may speak for a batch. The `x-fusillade-*` headers choose the tariff (completion
 * window, batch creation time), so they are read only from `batch`-purpose keys — keys minted for
 * a trusted batch runner — and checked (shared/batch-headers.ts); from any other key they are
 * ignored.
 */
import { BatchHeaderError, batchInfoFrom } from "../../../shared/batch-headers.ts";
import { ApiError } from "../../../shared/errors.ts";
import type { BatchInfo } from "../../../shared/usage-message.ts";
import type { GatewayConfig } from "./config.ts";
import type { KeyRecord } from "./store.ts";

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
