/**
 * The queue contract for stored responses: one message per completed `POST /ai/v1/responses` the
 * client did not opt out of storing (`store: false`). It travels on the usage queue beside usage
 * messages and is told apart by `kind: "response"` (usage messages have no `kind`).
 *
 * Queue messages are capped at 128 KB. When the bodies would push a message past
 * RESPONSE_MESSAGE_INLINE_LIMIT, the gateway puts them in R2 (`RESPONSES_BUCKET`) under
 * `body_object_key` and the message carries the key instead of the bodies.
 *
 * Versioned like the usage message: an incompatible change gets a new `v` beside this one.
 */
import * as z from "zod";

/** Stored response ids: the table's CHECK constraint requires this prefix. */
export const RESPONSE_ID = /^resp_[A-Za-z0-9_-]{1,200}$/;

/**
 * The read-after-write copy of a stored response in R2 (RESPONSES_BUCKET), named by owner and id:
 * the gateway writes it before the answer's last byte; the consumer deletes it once the row is in
 * Postgres (the durable record).
 */
export function liveObjectKey(ownerId: string, id: string): string {
  return `live/${ownerId}/${id}.json`;
}

/** Above this many bytes of JSON, the bodies go to R2 (the queue's hard cap is 128 KB). */
export const RESPONSE_MESSAGE_INLINE_LIMIT = 100_000;

export const ResponseMessageV1Schema = z
  .object({
    kind: z.literal("response"),
    v: z.literal(1),
    id: z.string().regex(RESPONSE_ID),
    /** The request's usage message (`http_analytics.event_id`): tokens and cost for the views. */
    event_id: z.uuid().nullable().default(null),
    /** The key that made the request; the consumer resolves the owner from it. */
    api_key_id: z.uuid().nullable(),
    /** The alias the client asked for. */
    model: z.string().min(1),
    /** The response object's status (`completed`, `incomplete`, `failed`). */
    status: z.string().min(1),
    service_tier: z.string().nullable(),
    /** The HTTP status the client received. */
    response_status: z.number().int().min(100).max(599),
    previous_response_id: z.string().regex(RESPONSE_ID).nullable(),
    created_at: z.iso.datetime({ offset: true }),
    completed_at: z.iso.datetime({ offset: true }),
    duration_ms: z.number().int().nonnegative(),
    request_body: z.string().nullable(),
    response_body: z.string().nullable(),
    /** Set instead of the bodies when they were too large to travel inline. */
    body_object_key: z.string().min(1).nullable(),
  })
  .refine((m) => (m.body_object_key === null) === (m.response_body !== null), {
    message: "a response message carries either its response body or the object key of its bodies, exactly one",
    path: ["body_object_key"],
  });

export type ResponseMessageV1 = z.infer<typeof ResponseMessageV1Schema>;

/** Every version the consumer understands (one so far). */
export const ResponseMessageSchema = ResponseMessageV1Schema;
export type ResponseMessage = ResponseMessageV1;

/** The bodies as stored in R2 when they do not fit in a message. */
export const StoredBodiesSchema = z.object({ request_body: z.string().nullable(), response_body: z.string() });
export type StoredBodies = z.infer<typeof StoredBodiesSchema>;

/** True for anything that claims to be a response message (a usage message never has `kind`). */
export function isResponseMessage(body: unknown): boolean {
  return typeof body === "object" && body !== null && (body as { kind?: unknown }).kind === "response";
}

/** A fresh id for a response whose upstream gave none usable: `resp_` + 32 hex digits. */
export function newResponseId(): string {
  return `resp_${crypto.randomUUID().replace(/-/g, "")}`;
}

/**
 * Where a response's bodies go in R2 when they do not fit in its message. Unique per write, not
 * just per id: an upstream that reuses an id must never overwrite another response's bodies.
 */
export function responseObjectKey(id: string): string {
  return `responses/${id}/${crypto.randomUUID()}.json`;
}

/** Byte length of a message as it will be serialised onto the queue. */
export function messageBytes(message: unknown): number {
  return new TextEncoder().encode(JSON.stringify(message)).length;
}
