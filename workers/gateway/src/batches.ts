/**
 * The Batches API (OpenAI's): create a batch from an uploaded file, list, get and cancel the
 * caller's own batches (another owner's id is a 404 like an unknown one). Creating one only
 * records it and enqueues its start; batch-runner.ts does the rest on the `tollgate-batch` queue.
 */
import type { Context } from "hono";
import * as z from "zod";
import { windowMs } from "../../../shared/batch-headers.ts";
import { BATCH_URLS } from "../../../shared/batch-jsonl.ts";
import { batchPublicId, batchRowId, type BatchMessage } from "../../../shared/batch-message.ts";
import type { Pool } from "../../../shared/db.ts";
import { ApiError } from "../../../shared/errors.ts";
import { fileNotFound, findOwnedFile, withCaller } from "./batch-files.ts";
import type { GatewayApp } from "./types.ts";

type Ctx = Context<GatewayApp>;

/** The longest a queue message may be delayed (Cloudflare Queues: 12 hours). */
export const QUEUE_MAX_DELAY_SECONDS = 43_200;

export interface BatchRow {
  id: string;
  user_id: string;
  api_key_id: string;
  input_file_id: string;
  endpoint: string;
  completion_window: string;
  metadata: Record<string, string> | null;
  status: string;
  ending: string | null;
  total: number;
  completed: number;
  failed: number;
  output_file_id: string | null;
  error_file_id: string | null;
  errors: unknown;
  created_at: Date | string;
  expires_at: Date | string;
  in_progress_at: Date | string | null;
  finalizing_at: Date | string | null;
  completed_at: Date | string | null;
  failed_at: Date | string | null;
  expired_at: Date | string | null;
  cancelling_at: Date | string | null;
  cancelled_at: Date | string | null;
}

const seconds = (t: Date | string | null) => (t === null ? null : Math.floor(new Date(t).getTime() / 1000));

/** OpenAI's batch object. */
export function batchObject(row: BatchRow) {
  return {
    id: batchPublicId(row.id),
    object: "batch" as const,
    endpoint: row.endpoint,
    errors: row.errors ?? null,
    input_file_id: row.input_file_id,
    completion_window: row.completion_window,
    status: row.status,
    output_file_id: row.output_file_id,
    error_file_id: row.error_file_id,
    created_at: seconds(row.created_at)!,
    in_progress_at: seconds(row.in_progress_at),
    expires_at: seconds(row.expires_at),
    finalizing_at: seconds(row.finalizing_at),
    completed_at: seconds(row.completed_at),
    failed_at: seconds(row.failed_at),
    expired_at: seconds(row.expired_at),
    cancelling_at: seconds(row.cancelling_at),
    cancelled_at: seconds(row.cancelled_at),
    request_counts: { total: row.total, completed: row.completed, failed: row.failed },
    metadata: row.metadata,
  };
}

export type BatchObject = ReturnType<typeof batchObject>;

const Metadata = z
  .record(z.string().max(64), z.string().max(512))
  .refine((m) => Object.keys(m).length <= 16, { error: "at most 16 keys" })
  .nullable()
  .optional();

const CreateBatch = z.object({
  input_file_id: z.string().min(1),
  endpoint: z.enum(BATCH_URLS),
  completion_window: z.string(),
  metadata: Metadata,
});

function batchNotFound(id: string): ApiError {
  return new ApiError("not_found", `No batch with id '${id.slice(0, 64)}'.`);
}

export async function sendBatchMessage(queue: Queue, message: BatchMessage, delaySeconds = 0): Promise<void> {
  await queue.send(message, { contentType: "json", ...(delaySeconds > 0 ? { delaySeconds: Math.min(delaySeconds, QUEUE_MAX_DELAY_SECONDS) } : {}) });
}

/** POST /ai/v1/batches */
export async function handleCreateBatch(c: Ctx): Promise<Response> {
  return withCaller(c, async (key, db) => {
    const windows = c.get("config").BATCH_COMPLETION_WINDOWS;
    let raw: unknown;
    try {
      raw = await c.req.json();
    } catch {
      throw new ApiError("invalid_request_error", "The request body is not valid JSON.");
    }
    const parsed = CreateBatch.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const param = issue.path.map(String).join(".") || null;
      throw new ApiError("invalid_request_error", `Invalid field '${param ?? "body"}': ${issue.message}.`, { param });
    }
    const body = parsed.data;
    if (!windows.includes(body.completion_window)) {
      throw new ApiError("invalid_request_error", `'completion_window' must be one of ${windows.join(", ")}.`, { param: "completion_window" });
    }
    const pool = db.get();
    const file = await findOwnedFile(pool, key.userId, body.input_file_id);
    if (!file) throw fileNotFound(body.input_file_id, "input_file_id");
    if (file.purpose !== "batch") throw new ApiError("invalid_request_error", "The input file must be a file uploaded with purpose \"batch\".", { param: "input_file_id" });
    const other = file.urls.find((u) => u !== body.endpoint);
    if (other) throw new ApiError("invalid_request_error", `Every line of the input file must have the url '${body.endpoint}'; it has '${other}'.`, { param: "input_file_id" });

    const id = crypto.randomUUID();
    const windowMillis = windowMs(body.completion_window)!;
    const { rows } = await pool.query<BatchRow>(
      `INSERT INTO batches (id, user_id, api_key_id, input_file_id, endpoint, completion_window, metadata, status, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'validating', now() + $8 * interval '1 millisecond') RETURNING *`,
      [id, key.userId, key.id, file.id, body.endpoint, body.completion_window, body.metadata ? JSON.stringify(body.metadata) : null, windowMillis],
    );
    try {
      await sendBatchMessage(c.env.BATCH_QUEUE, { kind: "batch_start", v: 1, batch_id: id });
      await sendBatchMessage(c.env.BATCH_QUEUE, { kind: "batch_check", v: 1, batch_id: id }, Math.ceil(windowMillis / 1000));
    } catch (err) {
      await pool.query("UPDATE batches SET status = 'failed', failed_at = now(), errors = $2 WHERE id = $1", [
        id,
        JSON.stringify({ object: "list", data: [{ code: "queue_unavailable", message: "The batch could not be queued.", param: null, line: null }] }),
      ]);
      console.error(`batch ${id} could not be queued: ${err instanceof Error ? err.message : String(err)}`);
      throw new ApiError("service_unavailable", "The batch could not be queued. Retry shortly.");
    }
    return c.json(batchObject(rows[0]!));
  });
}

async function ownedBatch(pool: Pool, userId: string, publicId: string): Promise<BatchRow> {
  const id = batchRowId(publicId);
  const { rows } = id ? await pool.query<BatchRow>("SELECT * FROM batches WHERE id = $1 AND user_id = $2", [id, userId]) : { rows: [] };
  if (!rows[0]) throw batchNotFound(publicId);
  return rows[0];
}

/** GET /ai/v1/batches/{id} */
export async function handleGetBatch(c: Ctx): Promise<Response> {
  return withCaller(c, async (key, db) => c.json(batchObject(await ownedBatch(db.get(), key.userId, c.req.param("id") ?? ""))));
}

/**
 * A page of batches, newest first, after the batch `after` (a cursor from an earlier page). The
 * owner's when `userId` is given, else everyone's (the admin view).
 */
export async function pageBatches(pool: Pool, userId: string | null, after: string | null, limit: number): Promise<{ rows: BatchRow[]; hasMore: boolean } | null> {
  let cursor: { created_at: Date | string; id: string } | null = null;
  if (after) {
    const id = batchRowId(after);
    const { rows } = id ? await pool.query<{ created_at: Date | string; id: string }>("SELECT created_at, id FROM batches WHERE id = $1 AND ($2::uuid IS NULL OR user_id = $2)", [id, userId]) : { rows: [] };
    if (!rows[0]) return null;
    cursor = rows[0];
  }
  const { rows } = await pool.query<BatchRow>(
    `SELECT * FROM batches
      WHERE ($1::uuid IS NULL OR user_id = $1)
        AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
      ORDER BY created_at DESC, id DESC LIMIT $4`,
    [userId, cursor ? new Date(cursor.created_at).toISOString() : null, cursor?.id ?? null, limit + 1],
  );
  return { rows: rows.slice(0, limit), hasMore: rows.length > limit };
}

/** GET /ai/v1/batches (`after`, `limit` 1–100, default 20) */
export async function handleListBatches(c: Ctx): Promise<Response> {
  return withCaller(c, async (key, db) => {
    const limitText = c.req.query("limit") ?? "20";
    const limit = /^\d{1,3}$/.test(limitText) ? Number(limitText) : NaN;
    if (!(limit >= 1 && limit <= 100)) throw new ApiError("invalid_request_error", "'limit' must be an integer from 1 to 100.", { param: "limit" });
    const after = c.req.query("after") ?? null;
    const page = await pageBatches(db.get(), key.userId, after, limit);
    if (!page) throw new ApiError("invalid_request_error", `'after' names no batch of yours.`, { param: "after" });
    const data = page.rows.map(batchObject);
    return c.json({ object: "list", data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: page.hasMore });
  });
}

/**
 * POST /ai/v1/batches/{id}/cancel: from this moment no request of the batch starts (the runner
 * claims requests only of batches in progress); the finalizer waits for those in flight, writes
 * what finished and settles on `cancelled`. Cancelling twice answers the batch as it is; a batch
 * that has ended is a 409.
 */
export async function handleCancelBatch(c: Ctx): Promise<Response> {
  return withCaller(c, async (key, db) => {
    const pool = db.get();
    const current = await ownedBatch(pool, key.userId, c.req.param("id") ?? "");
    const { rows } = await pool.query<BatchRow>(
      "UPDATE batches SET status = 'cancelling', cancelling_at = now() WHERE id = $1 AND status IN ('validating', 'in_progress') RETURNING *",
      [current.id],
    );
    if (rows[0]) {
      await sendBatchMessage(c.env.BATCH_QUEUE, { kind: "batch_finalize", v: 1, batch_id: current.id });
      return c.json(batchObject(rows[0]));
    }
    if (current.status === "cancelling" || current.status === "cancelled") return c.json(batchObject(current));
    throw new ApiError("conflict", `The batch is ${current.status} and can no longer be cancelled.`);
  });
}
