/**
 * Stored responses. `POST /ai/v1/responses` (unless the client sends `store: false`) ends with
 * one response message on the queue, sent off the response path; the consumer turns it into a
 * row of `requests`. `GET` and `DELETE /ai/v1/responses/{id}` read and remove the caller's own
 * rows: another user's id answers 404 exactly like an unknown one, so ids leak nothing.
 *
 * Bodies that would push a message past ~100 KB (the queue caps messages at 128 KB) go to R2
 * first; the message and then the row carry the object key.
 */
import type { Context } from "hono";
import { ApiError, errorMessage } from "../../../shared/errors.ts";
import {
  messageBytes,
  newResponseId,
  liveObjectKey,
  RESPONSE_ID,
  RESPONSE_MESSAGE_INLINE_LIMIT,
  responseObjectKey,
  StoredBodiesSchema,
  type ResponseMessageV1,
  type StoredBodies,
} from "../../../shared/response-message.ts";
import { ConversationError, continueConversation } from "../../../shared/responses-conversation.ts";
import { InputItemsQuerySchema, pageInputItems, storedInputItems } from "../../../shared/responses-input-items.ts";
import { withConnection } from "../../../shared/db.ts";
import { deleteOwnedResponse, findOwnedResponse } from "../../../shared/sql/responses.ts";
import { authenticateInference, type RequestDb } from "./access.ts";
import { sendWithRetry } from "./outbox.ts";
import type { KeyRecord, ModelRecord } from "./lookups.ts";
import type { GatewayApp } from "./types.ts";

type Ctx = Context<GatewayApp>;

/** The tier realtime traffic is stored under when the response names none (the reference's value). */
const DEFAULT_SERVICE_TIER = "priority";

/**
 * Resolves a `previous_response_id` before anything is forwarded: it must name one of the caller's
 * own stored responses (404 otherwise, as for GET). Returns the id and the request expanded into
 * the whole conversation (see shared/responses-conversation.ts), or null when none was given.
 */
export async function resolvePreviousResponse(
  body: Record<string, unknown>,
  key: KeyRecord,
  db: RequestDb,
  bucket: R2Bucket,
): Promise<{ id: string; body: Record<string, unknown> } | null> {
  const previous = body.previous_response_id;
  if (previous === undefined || previous === null) return null;
  const id = typeof previous === "string" ? previous : String(previous);
  const found = await findOwnedBodies(db, bucket, key.userId, id);
  if (!found) throw notFound(id, "previous_response_id");
  const requestText = found.request_body;
  const responseText = found.response_body;
  try {
    const parse = (text: string | null) => {
      const value: unknown = JSON.parse(text ?? "null");
      if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ConversationError("not a JSON object");
      return value as Record<string, unknown>;
    };
    return { id, body: continueConversation(body, parse(requestText), parse(responseText)) };
  } catch (err) {
    console.error(`stored response ${id} cannot be continued: ${errorMessage(err)}`);
    throw new ApiError("invalid_request_error", `The stored response '${id}' cannot be continued; send the conversation in 'input' instead.`, { param: "previous_response_id" });
  }
}

/**
 * Records one `POST /ai/v1/responses` for storage. Created per request when the client did not
 * opt out; `json()` or `stream()` is called once the response is complete.
 */
export class ResponseRecorder {
  private constructor(
    private readonly c: Ctx,
    private readonly key: KeyRecord,
    private readonly model: ModelRecord,
    private readonly requestBody: Record<string, unknown>,
    private readonly previousResponseId: string | null,
  ) {}

  /** A recorder for a Responses API call the client wants stored (the default), else null. */
  static for(c: Ctx, route: string, body: Record<string, unknown>, key: KeyRecord, model: ModelRecord, previousResponseId: string | null): ResponseRecorder | null {
    if (route !== "/responses" || body.store === false) return null;
    return new ResponseRecorder(c, key, model, body, previousResponseId);
  }

  /**
   * A complete JSON response object (already carrying the alias). Its id is the upstream's when
   * that is a usable `resp_…` id; otherwise a fresh one is written into the object, so the client
   * can fetch what it was given. A continued conversation names its `previous_response_id` (the
   * upstream was sent the expanded conversation instead, so it reports none).
   */
  json(payload: Record<string, unknown>, status: number): Promise<void> {
    if (typeof payload.id !== "string" || !RESPONSE_ID.test(payload.id)) payload.id = newResponseId();
    if (this.previousResponseId) payload.previous_response_id = this.previousResponseId;
    return this.record(payload, status);
  }

  /**
   * A finished stream's final response object (from `response.completed`). The client already
   * has the upstream's id; without a usable one the row gets a fresh id (visible to admins only).
   */
  stream(finalResponse: Record<string, unknown> | null, status: number): Promise<void> {
    if (!finalResponse) return Promise.resolve(); // cut or failed before completion: nothing complete to store
    const response: Record<string, unknown> = { ...finalResponse };
    if (typeof response.model === "string") response.model = this.model.alias;
    if (typeof response.id !== "string" || !RESPONSE_ID.test(response.id)) response.id = newResponseId();
    if (this.previousResponseId) response.previous_response_id = this.previousResponseId;
    return this.record(response, status);
  }

  /**
   * Writes the live copy (R2 is strongly consistent: readable as soon as the put returns), then
   * hands the message to the queue off the response path. Callers await this before the client's
   * last byte leaves, so the response can be fetched or continued the moment the client has it.
   */
  private async record(response: Record<string, unknown>, status: number): Promise<void> {
    const meter = this.c.get("meter");
    const endedAt = Date.now();
    const message: ResponseMessageV1 = {
      kind: "response",
      v: 1,
      id: response.id as string,
      event_id: meter.eventIdFor(status),
      api_key_id: this.key.id,
      model: this.model.alias,
      status: typeof response.status === "string" ? response.status : "completed",
      service_tier: typeof response.service_tier === "string" ? response.service_tier : DEFAULT_SERVICE_TIER,
      response_status: status,
      previous_response_id: this.previousResponseId,
      created_at: new Date(meter.startedAt).toISOString(),
      completed_at: new Date(endedAt).toISOString(),
      duration_ms: Math.max(0, endedAt - meter.startedAt),
      request_body: JSON.stringify(this.requestBody),
      response_body: JSON.stringify(response),
      body_object_key: null,
    };
    await putLiveCopy(this.c.env.RESPONSES_BUCKET, this.key.userId, message);
    this.c.executionCtx.waitUntil(sendResponseMessage(this.c.env, message));
  }
}

/*
 * The read-after-write copy of a stored response (liveObjectKey, shared/response-message.ts): its
 * bodies in R2 under a key named by owner and id, with the owner in the object's metadata too.
 * GET, input_items and `previous_response_id` read it while the queue path's row is not in
 * Postgres yet; the consumer deletes it once the row is written (the durable record).
 */
async function putLiveCopy(bucket: R2Bucket, ownerId: string, message: ResponseMessageV1): Promise<void> {
  const bodies: StoredBodies = { request_body: message.request_body, response_body: message.response_body ?? "" };
  try {
    await bucket.put(liveObjectKey(ownerId, message.id), JSON.stringify(bodies), {
      httpMetadata: { contentType: "application/json" },
      customMetadata: { owner: ownerId, api_key_id: message.api_key_id ?? "" },
    });
  } catch (err) {
    // Only read-after-write is lost: the queue path still stores the response.
    console.error(`response ${message.id}: its live copy could not be written to R2: ${errorMessage(err)}`);
  }
}

/** The live copy's bodies when it exists and belongs to `ownerId`; null otherwise. */
async function readLiveCopy(bucket: R2Bucket, ownerId: string, id: string): Promise<StoredBodies | null> {
  const object = await bucket.get(liveObjectKey(ownerId, id));
  if (!object || object.customMetadata?.owner !== ownerId) return null;
  return StoredBodiesSchema.parse(JSON.parse(await object.text()));
}

/**
 * The owner's stored bodies: the Postgres row (inline bodies or its R2 object), else the live copy
 * written before the response's last byte. Null for an unknown id and another owner's id alike.
 */
async function findOwnedBodies(db: RequestDb, bucket: R2Bucket, ownerId: string, id: string): Promise<StoredBodies | null> {
  if (!RESPONSE_ID.test(id)) return null;
  let row = await findOwnedResponse(db.get(), id, ownerId);
  if (!row) {
    const live = await readLiveCopy(bucket, ownerId, id);
    if (live) return live;
    // The consumer may have written the row and removed the live copy between the two reads.
    row = await findOwnedResponse(db.get(), id, ownerId);
    if (!row) return null;
  }
  if (!row.body_object_key) return { request_body: row.request_body, response_body: row.response_body ?? "null" };
  const bodies = await readStoredBodies(bucket, row.body_object_key);
  if (!bodies) {
    console.error(`stored response ${id}: its R2 object ${row.body_object_key} is missing`);
    throw new ApiError("internal_error", `The body of response '${id}' is unavailable.`);
  }
  return bodies;
}

/** Offloads large bodies to R2, then enqueues through the outbox's retry; failures are logged, never thrown. */
export async function sendResponseMessage(env: GatewayEnv, message: ResponseMessageV1): Promise<boolean> {
  let body = message;
  if (messageBytes(message) > RESPONSE_MESSAGE_INLINE_LIMIT) {
    const key = responseObjectKey(message.id);
    const bodies: StoredBodies = { request_body: message.request_body, response_body: message.response_body ?? "" };
    try {
      await env.RESPONSES_BUCKET.put(key, JSON.stringify(bodies), { httpMetadata: { contentType: "application/json" } });
    } catch (err) {
      console.error(`response ${message.id} not stored: its bodies could not be written to R2: ${errorMessage(err)}`);
      return false;
    }
    body = { ...message, request_body: null, response_body: null, body_object_key: key };
  }
  return sendWithRetry(env.USAGE_QUEUE, body, `response message ${message.id}`);
}

/** Reads the bodies of a row whose bodies were put in R2; null when the object is gone. */
export async function readStoredBodies(bucket: R2Bucket, key: string): Promise<StoredBodies | null> {
  const object = await bucket.get(key);
  if (!object) return null;
  return StoredBodiesSchema.parse(JSON.parse(await object.text()));
}

function notFound(id: string, param: string | null = null): ApiError {
  return new ApiError("not_found", `No response with id '${id}' found.`, { param });
}

/** The owner's stored bodies, or a 404 for any other id. */
async function ownedBodies(c: Ctx, db: RequestDb, userId: string, id: string): Promise<StoredBodies> {
  const bodies = await findOwnedBodies(db, c.env.RESPONSES_BUCKET, userId, id);
  if (!bodies) throw notFound(id);
  return bodies;
}

/** GET /ai/v1/responses/{id}: the stored response object, to its owner only. */
export async function handleGetResponse(c: Ctx): Promise<Response> {
  const config = c.get("config");
  const id = c.req.param("id") ?? "";
  const db = c.get("database");
  const key = await authenticateInference(c.req.header("authorization"), db, config);
  const bodies = await ownedBodies(c, db, key.userId, id);
  return new Response(bodies.response_body, { status: 200, headers: { "content-type": "application/json" } });
}

/**
 * GET /ai/v1/responses/{id}/input_items: the stored request's input as OpenAI's list (`after`,
 * `limit`, `order`). For a continued conversation that is the whole conversation the upstream
 * was sent (see shared/responses-conversation.ts).
 */
export async function handleGetInputItems(c: Ctx): Promise<Response> {
  const config = c.get("config");
  const id = c.req.param("id") ?? "";
  const db = c.get("database");
  const key = await authenticateInference(c.req.header("authorization"), db, config);
  const query = InputItemsQuerySchema.safeParse(c.req.query());
  if (!query.success) {
    const issue = query.error.issues[0];
    throw new ApiError("invalid_request_error", `Invalid query parameter '${String(issue?.path[0] ?? "")}': ${issue?.message ?? "invalid"}.`, { param: String(issue?.path[0] ?? "") });
  }
  const bodies = await ownedBodies(c, db, key.userId, id);
  let input: unknown = [];
  try {
    input = (JSON.parse(bodies.request_body ?? "null") as { input?: unknown } | null)?.input ?? [];
  } catch {
    console.error(`stored response ${id}: its request body is not JSON`);
  }
  return c.json(pageInputItems(storedInputItems(id, input), query.data));
}

/** DELETE /ai/v1/responses/{id}: removes the owner's row and its R2 object. */
export async function handleDeleteResponse(c: Ctx): Promise<Response> {
  const config = c.get("config");
  const id = c.req.param("id") ?? "";
  const db = c.get("database");
  const key = await authenticateInference(c.req.header("authorization"), db, config);
  if (!RESPONSE_ID.test(id)) throw notFound(id);
  // A live copy means the row may still be on its way: the delete leaves a tombstone the
  // consumer honours, so the response cannot reappear when its row arrives.
  const live = await c.env.RESPONSES_BUCKET.head(liveObjectKey(key.userId, id));
  const deleted = await withConnection(db.get(), (client) => deleteOwnedResponse(client, id, key.userId, live !== null));
  if (!deleted && !live) throw notFound(id);
  if (live) await c.env.RESPONSES_BUCKET.delete(liveObjectKey(key.userId, id));
  if (deleted?.body_object_key) {
    try {
      await c.env.RESPONSES_BUCKET.delete(deleted.body_object_key);
    } catch (err) {
      // The row is gone, so nothing can reach the object any more; operators can sweep it.
      console.error(`stored response ${id} deleted, but its R2 object ${deleted.body_object_key} was not: ${errorMessage(err)}`);
    }
  }
  return c.json({ id, object: "response", deleted: true });
}
