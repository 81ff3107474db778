/**
 * The batch queue's contract (`tollgate-batch`, produced and consumed by the gateway), and the
 * public spelling of batch and file ids. Every message names rows in Postgres; none carries a
 * request body or a secret, so a redelivered or replayed message can only repeat work whose
 * outcome is already recorded (and is then skipped).
 */
import * as z from "zod";

export const BatchMessageSchema = z.discriminatedUnion("kind", [
  /**
   * Read the input file into batch requests and enqueue them, a bounded slice per message (so a
   * large file stays within one invocation's limits): while the batch is validating, read lines
   * after `from` (the line number and byte offset last read; the start when absent); once it is in
   * progress, enqueue pending requests after line `enqueue_after` (0 when absent).
   */
  z.object({
    kind: z.literal("batch_start"),
    v: z.literal(1),
    batch_id: z.uuid(),
    from: z.object({ line: z.int().nonnegative(), offset: z.int().nonnegative() }).optional(),
    enqueue_after: z.int().nonnegative().optional(),
  }),
  /** Run one request (skipped when it already has a result). */
  z.object({ kind: z.literal("batch_request"), v: z.literal(1), batch_id: z.uuid(), custom_id: z.string().min(1) }),
  /** Write the output and error files and settle the batch's final status. */
  z.object({ kind: z.literal("batch_finalize"), v: z.literal(1), batch_id: z.uuid() }),
  /** Expire the batch if its window has passed, else look again later. */
  z.object({ kind: z.literal("batch_check"), v: z.literal(1), batch_id: z.uuid() }),
]);
export type BatchMessage = z.infer<typeof BatchMessageSchema>;

const HEX32 = /^[0-9a-f]{32}$/;

function hexOf(uuid: string): string {
  return uuid.replace(/-/g, "").toLowerCase();
}

function uuidOf(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** `batch_<32 hex>` for the batch whose row id (and usage-record batch id) is `uuid`. */
export const batchPublicId = (uuid: string) => `batch_${hexOf(uuid)}`;
/** The row id of `batch_<32 hex>`, or null when `id` is not one. */
export function batchRowId(id: string): string | null {
  const hex = id.startsWith("batch_") ? id.slice(6) : "";
  return HEX32.test(hex) ? uuidOf(hex) : null;
}

/** A new file id, `file-<32 hex>`. */
export const newFileId = () => `file-${hexOf(crypto.randomUUID())}`;
export const FILE_ID = /^file-[0-9a-f]{32}$/;

/** The id of an output (`kind` "output") or error file: derived from the batch, so writing it twice writes one file. */
export function batchResultFileId(batchUuid: string, kind: "output" | "error"): string {
  const hex = hexOf(batchUuid);
  // The last hex digit tells the two apart (0: output, 1: error).
  return `file-${hex.slice(0, 31)}${kind === "output" ? "0" : "1"}`;
}

/** `batch_req_<32 hex>`: an output line's id, from the request's id. */
export const batchRequestLineId = (requestUuid: string) => `batch_req_${hexOf(requestUuid)}`;
