/**
 * The batch runner: the gateway's own consumer of the `tollgate-batch` queue (docs/batches.md).
 *
 *   batch_start     input file (R2) → one `batch_requests` row per line → one message per request
 *   batch_request   claim the row → run it through the gateway's proxy path in-process → record
 *                   the result under the claim → ack (429/5xx/timeouts: release and retry later)
 *   batch_finalize  once nothing is in flight: output and error files, final counts and status
 *   batch_check     at the completion window's end: expire what has not finished
 *
 * Postgres owns the state. A request runs only after its row is claimed (`pending` → `running`
 * with a claim token and a lease) while its batch is in progress and unexpired, and its result is
 * stored under that claim before the message is acked, so a redelivered or duplicated message
 * finds the result (or a live claim) and calls nothing. Counts move in the same statement as the
 * result, so they are exact under concurrency; the finalizer recounts them from the rows.
 *
 * Requests go through `fetchApp` — the gateway's own Hono app — with an in-process marker
 * (batch-trust.ts): the same routing, upstream auth, usage extraction and metering as any
 * request, priced at the batch tariff for the batch's window as of its creation.
 */
import { BatchLineError, parseBatchLine, readLines, responseBodyValue, type BatchOutputLine, type LinePosition } from "../../../shared/batch-jsonl.ts";
import { batchPublicId, batchRequestLineId, batchResultFileId, BatchMessageSchema, type BatchMessage } from "../../../shared/batch-message.ts";
import { retryDelaySeconds } from "../../../shared/backoff.ts";
import { createPool, type Pool } from "../../../shared/db.ts";
import { BATCH_LINE_MAX_BYTES, fileObjectKey } from "./batch-files.ts";
import { internalBatchRequest } from "./batch-trust.ts";
import { QUEUE_MAX_DELAY_SECONDS, sendBatchMessage, type BatchRow } from "./batches.ts";
import { gatewayConfig, type GatewayConfig } from "./config.ts";

export type AppFetch = (request: Request) => Promise<Response>;

/** Rows inserted per statement when a batch starts. */
const INSERT_CHUNK_ROWS = 500;
/** Messages per `sendBatch` (the Queues limit is 100 messages and 256 KB). */
const SEND_CHUNK = 100;
/** How long the finalizer waits before looking again at requests still in flight. */
const FINALIZE_RECHECK_SECONDS = 2;
/** How long a request waits when its batch is still being read in, or another delivery holds it. */
const BUSY_RETRY_SECONDS = 2;
/** How long a request whose model is at its concurrency bound waits before trying again. */
const MODEL_BUSY_RESEND_SECONDS = 1;
/** Rows of long-ended batches deleted per finalize (BATCH_RETENTION_DAYS). */
const PRUNE_ROWS = 10_000;
/** Retry delays are capped at this (seconds). */
const MAX_RETRY_DELAY_SECONDS = 300;

export const BATCH_EXPIRED_ERROR = { code: "batch_expired", message: "This request could not be executed before the completion window expired." } as const;

interface Outcome {
  /** Ack, or retry after this many seconds. */
  retryAfter: number | null;
  /**
   * Ack, and send the message again after this many seconds: for waits that say nothing about
   * the message (its model is busy), so they do not use up its retries.
   */
  resendAfter?: number;
}
const ACK: Outcome = { retryAfter: null };

/** The queue handler: each message handled on its own; a thrown error retries that message alone. */
export async function handleBatchQueue(batch: MessageBatch<unknown>, env: GatewayEnv, fetchApp: AppFetch): Promise<void> {
  const config = gatewayConfig(env);
  const pool = createPool(config, 12);
  try {
    await Promise.all(
      batch.messages.map(async (message) => {
        const parsed = BatchMessageSchema.safeParse(message.body);
        if (!parsed.success) {
          console.error(`batch queue: malformed message ${message.id} dropped`);
          message.ack();
          return;
        }
        try {
          const outcome = await handleMessage(parsed.data, { env, config, pool, fetchApp });
          if (outcome.resendAfter !== undefined) await sendBatchMessage(env.BATCH_QUEUE, parsed.data, outcome.resendAfter);
          if (outcome.retryAfter === null) message.ack();
          else message.retry({ delaySeconds: outcome.retryAfter });
        } catch (err) {
          console.error(`batch queue: ${parsed.data.kind} for ${parsed.data.batch_id} failed (attempt ${message.attempts}): ${err instanceof Error ? err.message : String(err)}`);
          message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
        }
      }),
    );
  } finally {
    await pool.end().catch(() => {});
  }
}

interface Deps {
  env: GatewayEnv;
  config: GatewayConfig;
  pool: Pool;
  fetchApp: AppFetch;
}

function handleMessage(m: BatchMessage, deps: Deps): Promise<Outcome> {
  switch (m.kind) {
    case "batch_start":
      return startBatch(m, deps);
    case "batch_request":
      return runRequest(m.batch_id, m.custom_id, deps);
    case "batch_finalize":
      return finalizeBatch(m.batch_id, deps);
    case "batch_check":
      return checkBatch(m.batch_id, deps);
  }
}

async function failBatch(pool: Pool, id: string, code: string, message: string): Promise<void> {
  await pool.query("UPDATE batches SET status = 'failed', failed_at = now(), errors = $2 WHERE id = $1 AND status = 'validating'", [
    id,
    JSON.stringify({ object: "list", data: [{ code, message, param: "input_file_id", line: null }] }),
  ]);
}

/**
 * Starts a batch one slice per message, each within one invocation's limits however large the file:
 * while it is validating, reads up to BATCH_START_LINES lines of the input file into rows
 * (idempotent) from where the last slice stopped (an R2 range read from its byte offset) and sends
 * the next slice's message, or, at the file's end, marks the batch in progress; then enqueues its
 * pending requests, BATCH_START_LINES per message. A redelivered slice repeats work that changes
 * nothing (rows are inserted once; a duplicate request message finds its row claimed or done).
 */
async function startBatch(m: Extract<BatchMessage, { kind: "batch_start" }>, { env, config, pool }: Deps): Promise<Outcome> {
  const id = m.batch_id;
  const slice = config.BATCH_START_LINES;
  const { rows } = await pool.query<{ status: string; object_key: string; deleted: boolean }>(
    "SELECT b.status, f.object_key, f.deleted_at IS NOT NULL AS deleted FROM batches b JOIN batch_files f ON f.id = b.input_file_id WHERE b.id = $1",
    [id],
  );
  const batch = rows[0];
  if (!batch || (batch.status !== "validating" && batch.status !== "in_progress")) return ACK;
  if (batch.status === "validating") {
    const from = m.from ?? { line: 0, offset: 0 };
    const object = batch.deleted ? null : await env.BATCH_FILES.get(batch.object_key, from.offset > 0 ? { range: { offset: from.offset } } : undefined);
    if (!object) {
      await failBatch(pool, id, "file_not_found", "The input file was deleted before the batch started.");
      return ACK;
    }
    let next: LinePosition | null;
    try {
      next = await insertRequests(pool, id, object.body, from, slice);
    } catch (err) {
      if (!(err instanceof BatchLineError)) throw err;
      await failBatch(pool, id, "invalid_file", err.message);
      return ACK;
    }
    if (next) {
      await sendBatchMessage(env.BATCH_QUEUE, { kind: "batch_start", v: 1, batch_id: id, from: next });
      return ACK;
    }
    await pool.query(
      `UPDATE batches SET status = 'in_progress', in_progress_at = now(), total = (SELECT count(*) FROM batch_requests WHERE batch_id = $1)
        WHERE id = $1 AND status = 'validating'`,
      [id],
    );
  }
  const after = batch.status === "validating" ? 0 : (m.enqueue_after ?? 0);
  const pending = await pool.query<{ custom_id: string; line: number }>(
    "SELECT custom_id, line FROM batch_requests WHERE batch_id = $1 AND state = 'pending' AND line > $2 ORDER BY line LIMIT $3",
    [id, after, slice],
  );
  for (let i = 0; i < pending.rows.length; i += SEND_CHUNK) {
    await env.BATCH_QUEUE.sendBatch(
      pending.rows.slice(i, i + SEND_CHUNK).map((r) => ({ body: { kind: "batch_request", v: 1, batch_id: id, custom_id: r.custom_id } satisfies BatchMessage, contentType: "json" as const })),
    );
  }
  if (pending.rows.length === slice) {
    await sendBatchMessage(env.BATCH_QUEUE, { kind: "batch_start", v: 1, batch_id: id, enqueue_after: pending.rows[slice - 1]!.line });
  } else if (pending.rows.length === 0 && after === 0) {
    // An empty file cannot be uploaded, but a batch with nothing pending (all done before a redelivery) still ends.
    await maybeFinish(pool, env, id);
  }
  return ACK;
}

/**
 * Inserts the rows of up to `limit` lines of `stream` (the input file from `from`); returns where
 * the next slice starts, or null when the file ended.
 */
async function insertRequests(pool: Pool, batchId: string, stream: ReadableStream<Uint8Array>, from: LinePosition, limit: number): Promise<LinePosition | null> {
  let chunk: { custom_id: string; line: number; url: string; model: string; body: string }[] = [];
  const flush = async () => {
    if (chunk.length === 0) return;
    await pool.query(
      `INSERT INTO batch_requests (batch_id, custom_id, line, request_id, url, model, body)
       SELECT $1, c, l, gen_random_uuid(), u, m, b FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::text[]) AS t(c, l, u, m, b)
       ON CONFLICT (batch_id, custom_id) DO NOTHING`,
      [batchId, chunk.map((r) => r.custom_id), chunk.map((r) => r.line), chunk.map((r) => r.url), chunk.map((r) => r.model), chunk.map((r) => r.body)],
    );
    chunk = [];
  };
  let read = 0;
  let last = from;
  let next: LinePosition | null = null;
  for await (const { text, line, end } of readLines(stream, BATCH_LINE_MAX_BYTES, from)) {
    if (read === limit) {
      // A line beyond this slice: the next slice starts with it.
      next = last;
      break;
    }
    const parsed = parseBatchLine(text, line);
    if (parsed) chunk.push({ custom_id: parsed.custom_id, line, url: parsed.url, model: parsed.model, body: JSON.stringify(parsed.body) });
    if (chunk.length >= INSERT_CHUNK_ROWS) await flush();
    read++;
    last = { line, offset: end };
  }
  await flush();
  // Stopped mid-file: the rest of the body is not read.
  if (next) await stream.cancel().catch(() => undefined);
  return next;
}

interface Claimed {
  url: string;
  body: string;
  request_id: string;
  attempts: number;
  created_at: Date | string;
  completion_window: string;
  expires_at: Date | string;
  key_hash: string | null;
}

/**
 * Claims a request for one run: pending (or its last run's lease lapsed), its batch in progress
 * and unexpired, and fewer than `perModel` requests of its model in flight — counted exactly, under
 * a lock on the model held for this one statement (the SQL function's comment says how). Null when
 * not claimed.
 */
async function claimRequest(pool: Pool, batchId: string, customId: string, claim: string, leaseMs: number, perModel: number): Promise<Claimed | null> {
  const { rows } = await pool.query<Claimed>("SELECT * FROM tollgate_claim_batch_request($1, $2, $3, $4, $5)", [batchId, customId, claim, leaseMs, perModel]);
  return rows[0] ?? null;
}

/** Claims, runs and records one request. */
async function runRequest(batchId: string, customId: string, { env, config, pool, fetchApp }: Deps): Promise<Outcome> {
  const claim = crypto.randomUUID();
  const leaseMs = config.UPSTREAM_TIMEOUT_MS + 60_000;
  const claimed = await claimRequest(pool, batchId, customId, claim, leaseMs, config.BATCH_MODEL_CONCURRENCY);
  if (!claimed) return whyNotClaimed(batchId, customId, pool, env);

  const body = JSON.parse(claimed.body) as Record<string, unknown>;
  // A batch answer is one JSON body: a line asking for a stream gets the whole answer instead.
  delete body.stream;
  delete body.stream_options;
  const request = internalBatchRequest(`/ai${claimed.url}`, JSON.stringify(body), {
    keyHash: claimed.key_hash ?? "",
    batch: {
      batch_id: batchId,
      request_id: claimed.request_id,
      custom_id: customId,
      completion_window: claimed.completion_window,
      created_at: new Date(claimed.created_at).toISOString(),
      request_source: "batches-api",
    },
  });
  let status: number;
  let text: string;
  let eventId: string | null = null;
  let retryAfterHeader: string | null = null;
  try {
    const response = await fetchApp(request);
    status = response.status;
    text = await response.text();
    eventId = response.headers.get("x-tollgate-event-id");
    retryAfterHeader = response.headers.get("retry-after");
  } catch (err) {
    status = 500;
    text = JSON.stringify({ error: { message: "The gateway failed to run the request.", type: "api_error", code: "internal_error", param: null } });
    console.error(`batch ${batchId} request ${customId}: ${err instanceof Error ? err.message : String(err)}`);
  }

  const retryable = status === 429 || status >= 500;
  const beforeExpiry = Date.now() < new Date(claimed.expires_at).getTime();
  if (status === 429 && beforeExpiry) {
    // Rate limited (the key's or model's limits, or the upstream's): "later", not a failure. The
    // attempt is given back and the message sent again after Retry-After, so a batch larger than
    // its key's rate runs at that rate until its window closes instead of failing.
    await pool.query(
      "UPDATE batch_requests SET state = 'pending', attempts = attempts - 1, claim = NULL, lease_until = NULL WHERE batch_id = $1 AND custom_id = $2 AND claim = $3",
      [batchId, customId, claim],
    );
    const wait = Number(retryAfterHeader);
    return { retryAfter: null, resendAfter: Math.min(MAX_RETRY_DELAY_SECONDS, Math.max(1, Number.isFinite(wait) ? Math.ceil(wait) : config.BATCH_RETRY_DELAY_SECONDS)) };
  }
  if (retryable && claimed.attempts < config.BATCH_MAX_ATTEMPTS && beforeExpiry) {
    await pool.query("UPDATE batch_requests SET state = 'pending', claim = NULL, lease_until = NULL WHERE batch_id = $1 AND custom_id = $2 AND claim = $3", [batchId, customId, claim]);
    const delay = Math.min(MAX_RETRY_DELAY_SECONDS, config.BATCH_RETRY_DELAY_SECONDS * 2 ** (claimed.attempts - 1));
    return { retryAfter: delay };
  }
  if (retryable && !beforeExpiry) {
    // The window closed while it ran: left pending, the finalizer records it as expired.
    await pool.query("UPDATE batch_requests SET state = 'pending', claim = NULL, lease_until = NULL WHERE batch_id = $1 AND custom_id = $2 AND claim = $3", [batchId, customId, claim]);
    await expireIfDue(pool, env, batchId);
    return ACK;
  }
  const state = status >= 200 && status < 300 ? "completed" : "failed";
  const recorded = await pool.query<{ status: string; total: number; completed: number; failed: number }>(
    `WITH r AS (
       UPDATE batch_requests SET state = $4, status_code = $5, response_body = $6, event_id = $7, finished_at = now(), claim = NULL, lease_until = NULL
        WHERE batch_id = $1 AND custom_id = $2 AND claim = $3 AND state = 'running'
        RETURNING state, request_id, model, body, started_at, finished_at
     ), stored AS (
       -- The stored-responses views (admin /batches/requests) show batch results too.
       INSERT INTO requests (id, created_by, api_key_id, batch_id, model, status, service_tier, response_status, request_body, response_body, created_at, completed_at, duration_ms, event_id)
       SELECT 'resp_batch_' || replace(r.request_id::text, '-', ''), b.user_id, b.api_key_id, b.id, r.model, r.state, 'batch', $5, r.body, $6,
              r.started_at, r.finished_at, (extract(epoch FROM r.finished_at - r.started_at) * 1000)::bigint, $7
         FROM r JOIN batches b ON b.id = $1
       ON CONFLICT (id) DO NOTHING
     )
     UPDATE batches b SET completed = b.completed + (SELECT count(*) FROM r WHERE state = 'completed'),
                          failed = b.failed + (SELECT count(*) FROM r WHERE state = 'failed')
      WHERE b.id = $1 AND EXISTS (SELECT 1 FROM r)
  RETURNING b.status, b.total, b.completed, b.failed`,
    [batchId, customId, claim, state, status, text, eventId],
  );
  const after = recorded.rows[0];
  if (after && after.status === "in_progress" && after.completed + after.failed >= after.total) await maybeFinish(pool, env, batchId);
  return ACK;
}

/**
 * A request that could not be claimed: done already (ack), held by another delivery or its batch
 * not started (retry), its model at its bound (sent again shortly), or its batch over (ack).
 */
async function whyNotClaimed(batchId: string, customId: string, pool: Pool, env: GatewayEnv): Promise<Outcome> {
  const { rows } = await pool.query<{ state: string; leased: boolean; status: string; expired: boolean }>(
    `SELECT r.state, coalesce(r.lease_until > now(), false) AS leased, b.status, b.expires_at <= now() AS expired
       FROM batch_requests r JOIN batches b ON b.id = r.batch_id WHERE r.batch_id = $1 AND r.custom_id = $2`,
    [batchId, customId],
  );
  const row = rows[0];
  if (!row) return ACK;
  if (row.status === "validating") return { retryAfter: BUSY_RETRY_SECONDS };
  if (row.status === "in_progress" && row.expired) {
    await expireIfDue(pool, env, batchId);
    return ACK;
  }
  if (row.state === "running" && row.leased && row.status === "in_progress") return { retryAfter: BUSY_RETRY_SECONDS };
  // Pending in a live batch: its model has BATCH_MODEL_CONCURRENCY requests in flight.
  if (row.state === "pending" && row.status === "in_progress") return { retryAfter: null, resendAfter: MODEL_BUSY_RESEND_SECONDS };
  return ACK;
}

/** Every request has a result: on to finalizing (once, whoever gets here first). */
async function maybeFinish(pool: Pool, env: GatewayEnv, batchId: string): Promise<void> {
  const { rows } = await pool.query(
    `UPDATE batches SET status = 'finalizing', ending = 'completed', finalizing_at = now()
      WHERE id = $1 AND status = 'in_progress' AND completed + failed >= total RETURNING id`,
    [batchId],
  );
  if (rows[0]) await sendBatchMessage(env.BATCH_QUEUE, { kind: "batch_finalize", v: 1, batch_id: batchId });
}

/** The window has closed: no request starts any more; the finalizer expires the rest. */
async function expireIfDue(pool: Pool, env: GatewayEnv, batchId: string): Promise<boolean> {
  const { rows } = await pool.query(
    `UPDATE batches SET status = 'finalizing', ending = 'expired', finalizing_at = now()
      WHERE id = $1 AND status IN ('validating', 'in_progress') AND expires_at <= now() RETURNING id`,
    [batchId],
  );
  if (rows[0]) await sendBatchMessage(env.BATCH_QUEUE, { kind: "batch_finalize", v: 1, batch_id: batchId });
  return rows.length > 0;
}

/** At (or after) the window's end: expire; before it, look again then (queue delays are capped at 12 h). */
async function checkBatch(batchId: string, { env, pool }: Deps): Promise<Outcome> {
  const { rows } = await pool.query<{ status: string; remaining_ms: number }>(
    "SELECT status, (extract(epoch FROM expires_at - now()) * 1000)::float8 AS remaining_ms FROM batches WHERE id = $1",
    [batchId],
  );
  const row = rows[0];
  if (!row || (row.status !== "validating" && row.status !== "in_progress")) return ACK;
  if (row.remaining_ms > 0) {
    await sendBatchMessage(env.BATCH_QUEUE, { kind: "batch_check", v: 1, batch_id: batchId }, Math.min(QUEUE_MAX_DELAY_SECONDS, Math.ceil(row.remaining_ms / 1000)));
    return ACK;
  }
  await expireIfDue(pool, env, batchId);
  return ACK;
}

interface ResultRow {
  custom_id: string;
  request_id: string;
  state: string;
  status_code: number | null;
  response_body: string | null;
  error: { code: string; message: string } | null;
  event_id: string | null;
}

/**
 * Ends a batch that is finalizing or cancelling once no request is in flight: the rest are
 * expired or cancelled, the output (successes) and error (failures, expiries) files are written
 * — their ids derive from the batch, so a repeat writes the same files — and the counts are
 * recounted from the rows.
 */
async function finalizeBatch(batchId: string, { env, config, pool }: Deps): Promise<Outcome> {
  const { rows } = await pool.query<BatchRow>("SELECT * FROM batches WHERE id = $1", [batchId]);
  const batch = rows[0];
  if (!batch || (batch.status !== "finalizing" && batch.status !== "cancelling")) return ACK;
  const inFlight = await pool.query("SELECT 1 FROM batch_requests WHERE batch_id = $1 AND state = 'running' AND lease_until > now() LIMIT 1", [batchId]);
  if (inFlight.rows.length > 0) {
    // A fresh message rather than a retry: in-flight requests may outlast the queue's retry budget.
    await sendBatchMessage(env.BATCH_QUEUE, { kind: "batch_finalize", v: 1, batch_id: batchId }, FINALIZE_RECHECK_SECONDS);
    return ACK;
  }
  const cancelling = batch.status === "cancelling";
  await pool.query(
    `UPDATE batch_requests SET state = $2, error = $3, finished_at = now(), claim = NULL, lease_until = NULL
      WHERE batch_id = $1 AND state IN ('pending', 'running')`,
    [batchId, cancelling ? "cancelled" : "expired", cancelling ? null : JSON.stringify(BATCH_EXPIRED_ERROR)],
  );

  const output: string[] = [];
  const errors: string[] = [];
  let completed = 0;
  let failed = 0;
  const results = await pool.query<ResultRow>(
    "SELECT custom_id, request_id, state, status_code, response_body, error, event_id FROM batch_requests WHERE batch_id = $1 AND state <> 'cancelled' ORDER BY line",
    [batchId],
  );
  for (const r of results.rows) {
    const line: BatchOutputLine = {
      id: batchRequestLineId(r.request_id),
      custom_id: r.custom_id,
      response: r.status_code === null ? null : { status_code: r.status_code, request_id: r.event_id ?? r.request_id, body: responseBodyValue(r.response_body) },
      error: r.error,
    };
    if (r.state === "completed") {
      completed++;
      output.push(JSON.stringify(line));
    } else {
      failed++;
      errors.push(JSON.stringify(line));
    }
  }
  const outputFileId = output.length ? await writeResultFile(pool, env, batch, "output", output) : null;
  const errorFileId = errors.length ? await writeResultFile(pool, env, batch, "error", errors) : null;
  const final = cancelling ? "cancelled" : (batch.ending ?? "completed");
  await pool.query(
    `UPDATE batches SET status = $2, completed = $3, failed = $4, output_file_id = $5, error_file_id = $6,
            total = (SELECT count(*) FROM batch_requests WHERE batch_id = $1),
            completed_at = CASE WHEN $2 = 'completed' THEN now() ELSE completed_at END,
            expired_at = CASE WHEN $2 = 'expired' THEN now() ELSE expired_at END,
            cancelled_at = CASE WHEN $2 = 'cancelled' THEN now() ELSE cancelled_at END
      WHERE id = $1 AND status IN ('finalizing', 'cancelling')`,
    [batchId, final, completed, failed, outputFileId, errorFileId],
  );
  await pruneEndedBatches(pool, config.BATCH_RETENTION_DAYS).catch((err: unknown) => {
    // Housekeeping: a failure here must not undo or repeat the finalize; the next one tries again.
    console.error(`batch prune failed: ${err instanceof Error ? err.message : String(err)}`);
  });
  return ACK;
}

/**
 * Deletes the per-request rows (bodies and answers) of batches that ended more than `days` ago —
 * at most PRUNE_ROWS per call. Their output and error files were written to R2 when they ended;
 * batches that have not ended are never touched. Returns the rows deleted.
 */
export async function pruneEndedBatches(pool: Pool, days: number): Promise<number> {
  const { rowCount } = await pool.query(
    `DELETE FROM batch_requests r
      WHERE (r.batch_id, r.custom_id) IN (
        SELECT x.batch_id, x.custom_id FROM batch_requests x JOIN batches b ON b.id = x.batch_id
         WHERE b.status IN ('completed', 'failed', 'expired', 'cancelled')
           AND coalesce(b.completed_at, b.expired_at, b.cancelled_at, b.failed_at) < now() - make_interval(days => $1::int)
         LIMIT $2)`,
    [days, PRUNE_ROWS],
  );
  return rowCount ?? 0;
}

async function writeResultFile(pool: Pool, env: GatewayEnv, batch: BatchRow, kind: "output" | "error", lines: string[]): Promise<string> {
  const id = batchResultFileId(batch.id, kind);
  const text = lines.join("\n") + "\n";
  const bytes = new TextEncoder().encode(text);
  await env.BATCH_FILES.put(fileObjectKey(id), bytes, { httpMetadata: { contentType: "application/jsonl" } });
  await pool.query(
    `INSERT INTO batch_files (id, user_id, api_key_id, purpose, filename, bytes, line_count, object_key)
     VALUES ($1, $2, $3, 'batch_output', $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
    [id, batch.user_id, batch.api_key_id, `${batchPublicId(batch.id)}_${kind}.jsonl`, bytes.byteLength, lines.length, fileObjectKey(id)],
  );
  return id;
}
