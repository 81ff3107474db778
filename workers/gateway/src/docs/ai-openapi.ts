/**
 * `GET /ai/openapi.json`: the inference API as an OpenAPI 3.1 document. The request and response
 * bodies are OpenAI's own (the gateway forwards them unchanged apart from the model name), so they
 * are described by their required fields and by what Tollgate adds: `cache_control` markers, the
 * cache fields in `usage`, the `x-tollgate-event-id` header and the error envelope with its codes.
 */
import { ERROR_CODES, ERROR_ENVELOPE_JSON_SCHEMA, type ErrorCode } from "../../../../shared/errors.ts";

type JsonSchema = Record<string, unknown>;


const CACHE_CONTROL: JsonSchema = {
  type: "object",
  description:
    "Tollgate extension (chat completions): marks the prompt up to here as cacheable. Allowed on message content blocks, messages, tool definitions, assistant tool calls and the request itself; at most 4. Stripped before the upstream sees the request.",
  required: ["type"],
  properties: { type: { const: "ephemeral" }, ttl: { enum: ["5m", "1h", "24h"], description: "Must be one of the tiers the operator enabled" } },
};

const USAGE: JsonSchema = {
  type: "object",
  description: "OpenAI usage, plus the prompt-cache split when the model has caching on (`prompt_tokens` stays the full input).",
  properties: {
    prompt_tokens: { type: "integer" },
    completion_tokens: { type: "integer" },
    total_tokens: { type: "integer" },
    prompt_tokens_details: { type: "object", properties: { cached_tokens: { type: "integer" } } },
    cache_read_input_tokens: { type: "integer" },
    cache_creation_input_tokens: { type: "integer" },
    cache_creation: {
      type: "object",
      properties: {
        ephemeral_5m_input_tokens: { type: "integer" },
        ephemeral_1h_input_tokens: { type: "integer" },
        ephemeral_24h_input_tokens: { type: "integer" },
      },
    },
  },
};

const EVENT_ID_HEADER = {
  "x-tollgate-event-id": { description: "The id of this request's usage record (analytics and billing)", schema: { type: "string", format: "uuid" } },
};

function errors(codes: ErrorCode[]): Record<string, unknown> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(ERROR_CODES[code].status, [...(byStatus.get(ERROR_CODES[code].status) ?? []), code]);
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [
      String(status),
      { description: list.map((c) => `\`${c}\``).join(", "), headers: EVENT_ID_HEADER, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
    ]),
  );
}

const GATE_ERRORS: ErrorCode[] = [
  "invalid_request_error",
  "invalid_api_key",
  "insufficient_credits",
  "permission_denied",
  "model_access_denied",
  "model_not_found",
  "request_too_large",
  "rate_limit_exceeded",
  "concurrency_limit_exceeded",
  "service_unavailable",
  "upstream_error",
  "upstream_timeout",
];

function inference(summary: string, description: string, extra: JsonSchema = {}, codes: ErrorCode[] = GATE_ERRORS) {
  return {
    post: {
      summary,
      description,
      tags: ["Inference"],
      requestBody: {
        required: true,
        content: {
          "application/json": {
            schema: {
              type: "object",
              required: ["model"],
              additionalProperties: true,
              properties: { model: { type: "string", description: "A model alias from GET /ai/v1/models" }, stream: { type: "boolean" }, ...extra },
            },
          },
        },
      },
      responses: {
        200: {
          description: "The upstream's response with the alias as `model`; with `stream: true`, Server-Sent Events passed through byte for byte",
          headers: EVENT_ID_HEADER,
          content: {
            "application/json": { schema: { type: "object", additionalProperties: true, properties: { usage: USAGE } } },
            "text/event-stream": { schema: { type: "string" } },
          },
        },
        ...errors(codes),
      },
    },
  };
}

const MODEL_OBJECT: JsonSchema = {
  type: "object",
  properties: { id: { type: "string" }, object: { const: "model" }, created: { type: "integer" }, owned_by: { type: "string" } },
};

const json = (description: string, schema: JsonSchema) => ({ description, content: { "application/json": { schema } } });
const pathParam = (name: string, description: string) => ({ name, in: "path", required: true, description, schema: { type: "string" } });
const queryParam = (name: string, description: string, schema: JsonSchema) => ({ name, in: "query", required: false, description, schema });
const RESPONSE_ID_PARAM = pathParam("id", "A stored response's id (`resp_…`)");

let cached: JsonSchema | undefined;

export function aiOpenApiDocument(): JsonSchema {
  cached ??= {
    openapi: "3.1.0",
    info: {
      title: "Tollgate inference API",
      version: "1",
      description:
        "OpenAI-compatible: point an OpenAI SDK's base URL at `/ai/v1` and use a Tollgate key (`tg-…`). Bodies are OpenAI's; this document lists what Tollgate checks and adds.",
    },
    servers: [{ url: "/" }],
    security: [{ bearer: [] }],
    paths: {
      "/ai/v1/chat/completions": inference("Chat completions", "Streaming responses always carry usage upstream; the usage-only chunk reaches you only if you asked for it with `stream_options.include_usage`.", {
        messages: { type: "array", items: { type: "object" } },
        cache_control: CACHE_CONTROL,
      }, [...GATE_ERRORS, "invalid_cache_control"]),
      "/ai/v1/completions": inference("Completions", "Legacy text completions."),
      "/ai/v1/embeddings": inference("Embeddings", "Embeddings; metered by prompt tokens."),
      "/ai/v1/responses": inference("Responses", "The Responses API, forwarded to upstreams that speak it."),
      "/ai/v1/models": {
        get: {
          summary: "List the models your key may use",
          tags: ["Models"],
          responses: {
            200: {
              description: "OpenAI list shape",
              content: {
                "application/json": {
                  schema: { type: "object", properties: { object: { const: "list" }, data: { type: "array", items: MODEL_OBJECT } } },
                },
              },
            },
            ...errors(["invalid_api_key", "permission_denied"]),
          },
        },
      },
      "/ai/v1/models/{model}": {
        get: {
          summary: "One model your key may use",
          tags: ["Models"],
          parameters: [pathParam("model", "A model alias")],
          responses: { 200: json("OpenAI's model object", MODEL_OBJECT), ...errors(["invalid_api_key", "permission_denied", "model_not_found"]) },
        },
      },
      "/ai/v1/responses/{id}": {
        get: {
          summary: "A stored response",
          description: "Readable the moment its `POST /ai/v1/responses` has finished; only by its owner (any other id is a 404).",
          tags: ["Responses"],
          parameters: [RESPONSE_ID_PARAM],
          responses: { 200: json("The response object", { type: "object", additionalProperties: true }), ...errors(["invalid_api_key", "permission_denied", "not_found"]) },
        },
        delete: {
          summary: "Delete a stored response",
          tags: ["Responses"],
          parameters: [RESPONSE_ID_PARAM],
          responses: {
            200: json("Deleted", { type: "object", properties: { id: { type: "string" }, object: { const: "response" }, deleted: { const: true } } }),
            ...errors(["invalid_api_key", "permission_denied", "not_found"]),
          },
        },
      },
      "/ai/v1/responses/{id}/input_items": {
        get: {
          summary: "A stored response's input items",
          description: "For a continued conversation: the whole conversation the upstream was sent.",
          tags: ["Responses"],
          parameters: [
            RESPONSE_ID_PARAM,
            queryParam("after", "An item id: list the items after it", { type: "string" }),
            queryParam("limit", "1 to 100 (default 20)", { type: "integer", minimum: 1, maximum: 100 }),
            queryParam("order", "`desc` (default, newest first) or `asc`", { enum: ["asc", "desc"] }),
          ],
          responses: {
            200: json("OpenAI's list shape", {
              type: "object",
              properties: { object: { const: "list" }, data: { type: "array", items: { type: "object" } }, first_id: { type: ["string", "null"] }, last_id: { type: ["string", "null"] }, has_more: { type: "boolean" } },
            }),
            ...errors(["invalid_request_error", "invalid_api_key", "permission_denied", "not_found"]),
          },
        },
      },
      "/healthz": { get: { summary: "Liveness", tags: ["Operations"], security: [], responses: { 200: { description: '`{"status":"ok"}`' } } } },
    },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "A realtime, batch or playground key (`tg-…`)" } },
      schemas: { Error: ERROR_ENVELOPE_JSON_SCHEMA },
    },
  };
  return cached;
}
