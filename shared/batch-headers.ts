/**
 * The batch runner's `x-fusillade-*` headers, read and checked. They choose the tariff (the
 * completion window, and the batch's creation time as the pricing time), so a value that would
 * price a request at a tariff its batch could not have had is refused, naming the header:
 * a creation time in the future (beyond a small clock skew) or older than the longest completion
 * window plus one hour (no batch runs that long), an unreadable time, or an unknown window.
 */
import type { BatchInfo } from "./usage-message.ts";
import { UUID } from "./uuid.ts";

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A batch clock may run this far ahead of ours. */
export const BATCH_CLOCK_SKEW_MS = 60_000;
/** How long after its window closes a batch's requests may still arrive. */
export const BATCH_GRACE_MS = 3_600_000;

export const HEADER_CREATED_AT = "x-fusillade-batch-created-at";
export const HEADER_COMPLETION_WINDOW = "x-fusillade-batch-completion-window";

/** A completion window such as `24h`, `1h`, `30m`, `7d` in milliseconds; null when not one. */
export function windowMs(window: string): number | null {
  const m = /^(\d{1,6})([smhd])$/.exec(window);
  if (!m) return null;
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  return ms > 0 ? ms : null;
}

export class BatchHeaderError extends Error {
  constructor(
    readonly header: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Batch metadata from the headers. `windows` are the completion windows this deployment offers
 * (BATCH_COMPLETION_WINDOWS); `now` is the request's arrival. Throws BatchHeaderError.
 *
 * @example batchInfoFrom(req.headers, ["24h", "1h"], Date.now())
 */
export function batchInfoFrom(headers: Headers, windows: readonly string[], now: number): BatchInfo {
  const batchId = headers.get("x-fusillade-batch-id");
  const requestId = headers.get("x-fusillade-request-id");
  const window = headers.get(HEADER_COMPLETION_WINDOW);
  if (window !== null && !windows.includes(window)) {
    throw new BatchHeaderError(HEADER_COMPLETION_WINDOW, `The header '${HEADER_COMPLETION_WINDOW}' must be one of ${windows.join(", ")}.`);
  }
  const createdAt = headers.get(HEADER_CREATED_AT);
  let created: string | null = null;
  if (createdAt !== null) {
    const t = Date.parse(createdAt);
    if (Number.isNaN(t)) throw new BatchHeaderError(HEADER_CREATED_AT, `The header '${HEADER_CREATED_AT}' must be an ISO 8601 time.`);
    if (t > now + BATCH_CLOCK_SKEW_MS) throw new BatchHeaderError(HEADER_CREATED_AT, `The header '${HEADER_CREATED_AT}' is in the future.`);
    const longest = Math.max(0, ...windows.map((w) => windowMs(w) ?? 0));
    if (t < now - longest - BATCH_GRACE_MS) {
      throw new BatchHeaderError(HEADER_CREATED_AT, `The header '${HEADER_CREATED_AT}' is older than the longest completion window plus one hour.`);
    }
    created = new Date(t).toISOString();
  }
  return {
    batch_id: batchId && UUID.test(batchId) ? batchId.toLowerCase() : null,
    request_id: requestId && UUID.test(requestId) ? requestId.toLowerCase() : null,
    custom_id: headers.get("x-fusillade-custom-id"),
    completion_window: window,
    created_at: created,
    request_source: headers.get("x-fusillade-request-source") ?? "",
  };
}
