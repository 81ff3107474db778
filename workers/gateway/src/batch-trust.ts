/**
 * Which requests may speak for a batch. The `x-fusillade-*` headers choose the tariff (completion
 * window, batch creation time), so they are read only from `batch`-purpose keys — keys minted for
 * a trusted batch runner — and from no other caller.
 */
import type { BatchInfo } from "../../../shared/usage-message.ts";
import type { KeyRecord } from "./store.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Batch metadata from the batch runner's headers. */
export function batchInfoFrom(headers: Headers): BatchInfo {
  const batchId = headers.get("x-fusillade-batch-id");
  const requestId = headers.get("x-fusillade-request-id");
  const createdAt = headers.get("x-fusillade-batch-created-at");
  const created = createdAt && !Number.isNaN(Date.parse(createdAt)) ? new Date(createdAt).toISOString() : null;
  return {
    batch_id: batchId && UUID.test(batchId) ? batchId.toLowerCase() : null,
    request_id: requestId && UUID.test(requestId) ? requestId.toLowerCase() : null,
    custom_id: headers.get("x-fusillade-custom-id"),
    completion_window: headers.get("x-fusillade-batch-completion-window"),
    created_at: created,
    request_source: headers.get("x-fusillade-request-source") ?? "",
  };
}

/** The batch metadata a request may carry: only a `batch` key's, else none. */
export function trustedBatchInfo(key: KeyRecord, headers: Headers): BatchInfo | null {
  return key.purpose === "batch" ? batchInfoFrom(headers) : null;
}
