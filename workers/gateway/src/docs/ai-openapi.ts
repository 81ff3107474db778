/**
 * `GET /ai/openapi.json`: the inference API as an OpenAPI 3.1 document, built from the route table
 * below (`AI_ROUTES`: one entry per operation app.ts serves under /ai/v1, and /healthz; a test keeps
 * the two equal). The request and response bodies are OpenAI's own (the gateway forwards them
 * unchanged apart from the model name), so their schemas name the required fields and what Tollgate
 * adds: `cache_control` markers, the cache fields in `usage`, the `x-tollgate-event-id` header and the
 * error envelope with its codes. Every schema is a named component, written once.
 */
import * as z from "zod";
import { ERROR_CODES, ERROR_ENVELOPE_JSON_SCHEMA, type ErrorCode } from "../../../../shared/errors.ts";
import { BATCH_URLS } from "../../../../shared/batch-jsonl.ts";
import { InputItemsQuerySchema } from "../../../../shared/responses-input-items.ts";

type JsonSchema = Record<string, unknown>;

const CacheControl = z
  .object({
    type: z.literal("ephemeral"),
    ttl: z.enum(["5m", "1h", "24h"]).optional().describe("Must be one of the tiers the operator enabled"),
  })
  .describe(
    "Tollgate extension (chat completions): marks the prompt up to here as cacheable. Allowed on message content blocks, messages, tool definitions, assistant tool calls and the request itself; at most 4. Stripped before the upstream sees the request.",
  );

const Usage = z
  .object({
    prompt_tokens: z.int(),
    completion_tokens: z.int(),
    total_tokens: z.int(),
    prompt_tokens_details: z.object({ cached_tokens: z.int() }).partial(),
    cache_read_input_tokens: z.int(),
    cache_creation_input_tokens: z.int(),
    cache_creation: z.object({ ephemeral_5m_input_tokens: z.int(), ephemeral_1h_input_tokens: z.int(), ephemeral_24h_input_tokens: z.int() }).partial(),
  })
  .partial()
  .describe("OpenAI usage, plus the prompt-cache split when the model has caching on (`prompt_tokens` stays the full input).");

/** What every inference body has; the rest is OpenAI's and passes through. */
const InferenceRequest = z.looseObject({
  model: z.string().describe("A model alias from GET /ai/v1/models"),
  stream: z.boolean().optional(),
});
const ChatCompletionRequest = InferenceRequest.extend({ messages: z.array(z.looseObject({})).optional(), cache_control: CacheControl.optional() });
const InferenceResponse = z.looseObject({ usage: Usage.optional() });

const Model = z.object({ id: z.string(), object: z.literal("model"), created: z.int(), owned_by: z.string() });
const ModelList = z.object({ object: z.literal("list"), data: z.array(Model) });
const ResponseObject = z.looseObject({}).describe("OpenAI's response object, as it was answered");
const DeletedResponse = z.object({ id: z.string(), object: z.literal("response"), deleted: z.literal(true) });
const InputItemList = z.object({
  object: z.literal("list"),
  data: z.array(z.looseObject({})),
  first_id: z.string().nullable(),
  last_id: z.string().nullable(),
  has_more: z.boolean(),
});

const FileObject = z.object({
  id: z.string().describe("`file-…`"),
  object: z.literal("file"),
  bytes: z.int(),
  created_at: z.int(),
  filename: z.string(),
  purpose: z.enum(["batch", "batch_output"]),
  status: z.literal("processed"),
  status_details: z.null(),
  expires_at: z.null(),
});
const FileList = z.object({ object: z.literal("list"), data: z.array(FileObject), first_id: z.string().nullable(), last_id: z.string().nullable(), has_more: z.boolean() });
const DeletedFile = z.object({ id: z.string(), object: z.literal("file"), deleted: z.literal(true) });
const CreateBatchRequest = z.object({
  input_file_id: z.string().describe("A file of yours uploaded with purpose `batch`"),
  endpoint: z.enum(BATCH_URLS).describe("Every line of the file must name this url"),
  completion_window: z.string().describe("One of the operator's BATCH_COMPLETION_WINDOWS (default `24h`, `1h`); it chooses the batch tariff"),
  metadata: z.record(z.string(), z.string()).nullable().optional(),
});
const BatchObject = z.looseObject({
  id: z.string().describe("`batch_…`"),
  object: z.literal("batch"),
  status: z.enum(["validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled"]),
  request_counts: z.object({ total: z.int(), completed: z.int(), failed: z.int() }),
  output_file_id: z.string().nullable(),
  error_file_id: z.string().nullable(),
}).describe("OpenAI's batch object");
const BatchList = z.object({ object: z.literal("list"), data: z.array(BatchObject), first_id: z.string().nullable(), last_id: z.string().nullable(), has_more: z.boolean() });
const FilesQuery = z.object({ purpose: z.string(), limit: z.int().min(1).max(10_000), after: z.string(), order: z.enum(["asc", "desc"]) }).partial();
const BatchesQuery = z.object({ limit: z.int().min(1).max(100), after: z.string() }).partial();

/** Component names in the document (`#/components/schemas/<name>`). */
const SCHEMA_NAMES: ReadonlyMap<z.ZodType, string> = new Map(
  Object.entries({
    CacheControl,
    Usage,
    InferenceRequest,
    ChatCompletionRequest,
    InferenceResponse,
    Model,
    ModelList,
    ResponseObject,
    DeletedResponse,
    InputItemList,
    FileObject,
    FileList,
    DeletedFile,
    CreateBatchRequest,
    BatchObject,
    BatchList,
  }).map(([name, schema]) => [schema, name]),
);

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

const KEY_ERRORS: ErrorCode[] = ["invalid_api_key", "permission_denied"];

export interface AiRoute {
  method: "get" | "post" | "delete";
  /** OpenAPI spelling: `/ai/v1/responses/{id}`. */
  path: string;
  summary: string;
  description?: string;
  tag: "Inference" | "Models" | "Responses" | "Files" | "Batches" | "Operations";
  /** A description per `{name}` in the path. */
  params?: Record<string, string>;
  /** The schema the handler parses the query with. */
  query?: z.ZodObject;
  body?: z.ZodType;
  response: { description: string; schema?: z.ZodType; stream?: boolean };
  /** The error codes it can answer with, grouped by status in the document. */
  errors: readonly ErrorCode[];
  /** Answers without credentials. */
  open?: boolean;
}

const RESPONSE_ID = "A stored response's id (`resp_…`)";
const FILE_ID = "A file's id (`file-…`)";
const BATCH_ID = "A batch's id (`batch_…`)";

function inference(path: string, summary: string, description: string, body: z.ZodType = InferenceRequest, errors: readonly ErrorCode[] = GATE_ERRORS): AiRoute {
  return {
    method: "post",
    path,
    summary,
    description,
    tag: "Inference",
    body,
    response: {
      description: "The upstream's response with the alias as `model`; with `stream: true`, Server-Sent Events passed through byte for byte",
      schema: InferenceResponse,
      stream: true,
    },
    errors,
  };
}

export const AI_ROUTES: readonly AiRoute[] = [
  inference(
    "/ai/v1/chat/completions",
    "Chat completions",
    "Streaming responses always carry usage upstream; the usage-only chunk reaches you only if you asked for it with `stream_options.include_usage`.",
    ChatCompletionRequest,
    [...GATE_ERRORS, "invalid_cache_control"],
  ),
  inference("/ai/v1/completions", "Completions", "Legacy text completions."),
  inference("/ai/v1/embeddings", "Embeddings", "Embeddings; metered by prompt tokens."),
  inference("/ai/v1/responses", "Responses", "The Responses API, forwarded to upstreams that speak it."),
  { method: "get", path: "/ai/v1/models", summary: "List the models your key may use", tag: "Models", response: { description: "OpenAI list shape", schema: ModelList }, errors: KEY_ERRORS },
  {
    method: "get",
    path: "/ai/v1/models/{model}",
    summary: "One model your key may use",
    tag: "Models",
    params: { model: "A model alias" },
    response: { description: "OpenAI's model object", schema: Model },
    errors: [...KEY_ERRORS, "model_not_found"],
  },
  {
    method: "get",
    path: "/ai/v1/responses/{id}",
    summary: "A stored response",
    description: "Readable the moment its `POST /ai/v1/responses` has finished; only by its owner (any other id is a 404).",
    tag: "Responses",
    params: { id: RESPONSE_ID },
    response: { description: "The response object", schema: ResponseObject },
    errors: [...KEY_ERRORS, "not_found"],
  },
  {
    method: "delete",
    path: "/ai/v1/responses/{id}",
    summary: "Delete a stored response",
    tag: "Responses",
    params: { id: RESPONSE_ID },
    response: { description: "Deleted", schema: DeletedResponse },
    errors: [...KEY_ERRORS, "not_found"],
  },
  {
    method: "get",
    path: "/ai/v1/responses/{id}/input_items",
    summary: "A stored response's input items",
    description: "For a continued conversation: the whole conversation the upstream was sent.",
    tag: "Responses",
    params: { id: RESPONSE_ID },
    query: InputItemsQuerySchema,
    response: { description: "OpenAI's list shape", schema: InputItemList },
    errors: ["invalid_request_error", ...KEY_ERRORS, "not_found"],
  },
  {
    method: "post",
    path: "/ai/v1/files",
    summary: "Upload a batch input file",
    description:
      "multipart/form-data with `purpose=batch` and `file`: JSONL, one `{custom_id, method: \"POST\", url, body}` per line, `custom_id`s unique, `url` one of " +
      BATCH_URLS.join(", ") +
      ", `body.model` a model your key may use. A bad file is a 400 naming its first bad line. Up to BATCH_FILE_MAX_BYTES (100 MB).",
    tag: "Files",
    response: { description: "OpenAI's file object", schema: FileObject },
    errors: ["invalid_request_error", ...KEY_ERRORS, "request_too_large", "unsupported_media_type"],
  },
  { method: "get", path: "/ai/v1/files", summary: "List your files", tag: "Files", query: FilesQuery, response: { description: "OpenAI's list shape", schema: FileList }, errors: ["invalid_request_error", ...KEY_ERRORS, "not_found"] },
  { method: "get", path: "/ai/v1/files/{id}", summary: "One of your files", tag: "Files", params: { id: FILE_ID }, response: { description: "OpenAI's file object", schema: FileObject }, errors: [...KEY_ERRORS, "not_found"] },
  { method: "delete", path: "/ai/v1/files/{id}", summary: "Delete one of your files", tag: "Files", params: { id: FILE_ID }, response: { description: "Deleted", schema: DeletedFile }, errors: [...KEY_ERRORS, "not_found"] },
  {
    method: "get",
    path: "/ai/v1/files/{id}/content",
    summary: "A file's bytes",
    description: "Input files as uploaded; output and error files in OpenAI's JSONL (`{id, custom_id, response: {status_code, request_id, body}, error}`).",
    tag: "Files",
    params: { id: FILE_ID },
    response: { description: "The file (application/jsonl)" },
    errors: [...KEY_ERRORS, "not_found"],
  },
  {
    method: "post",
    path: "/ai/v1/batches",
    summary: "Create a batch",
    description: "Its requests run through the gateway (same routing, limits and metering) and are priced at the batch tariff of the completion window in force when the batch was created.",
    tag: "Batches",
    body: CreateBatchRequest,
    response: { description: "OpenAI's batch object", schema: BatchObject },
    errors: ["invalid_request_error", ...KEY_ERRORS, "not_found", "service_unavailable"],
  },
  { method: "get", path: "/ai/v1/batches", summary: "List your batches, newest first", tag: "Batches", query: BatchesQuery, response: { description: "OpenAI's list shape", schema: BatchList }, errors: ["invalid_request_error", ...KEY_ERRORS] },
  { method: "get", path: "/ai/v1/batches/{id}", summary: "One of your batches", tag: "Batches", params: { id: BATCH_ID }, response: { description: "OpenAI's batch object", schema: BatchObject }, errors: [...KEY_ERRORS, "not_found"] },
  {
    method: "post",
    path: "/ai/v1/batches/{id}/cancel",
    summary: "Cancel a batch",
    description: "No request of the batch starts after this; those in flight finish and are written to the output or error file.",
    tag: "Batches",
    params: { id: BATCH_ID },
    response: { description: "The batch, `cancelling`", schema: BatchObject },
    errors: [...KEY_ERRORS, "not_found", "conflict"],
  },
  { method: "get", path: "/healthz", summary: "Liveness", tag: "Operations", response: { description: '`{"status":"ok"}`' }, errors: [], open: true },
];

const REF_PREFIX = "#/components/schemas/";

const EVENT_ID_HEADER = {
  "x-tollgate-event-id": { description: "The id of this request's usage record (analytics and billing)", schema: { type: "string", format: "uuid" } },
};

function errors(codes: readonly ErrorCode[]): Record<string, unknown> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(ERROR_CODES[code].status, [...(byStatus.get(ERROR_CODES[code].status) ?? []), code]);
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [
      String(status),
      { description: list.map((c) => `\`${c}\``).join(", "), headers: EVENT_ID_HEADER, content: { "application/json": { schema: { $ref: `${REF_PREFIX}Error` } } } },
    ]),
  );
}

function ref(schema: z.ZodType, registry: z.core.$ZodRegistry<{ id: string }>): JsonSchema {
  const id = registry.get(schema)?.id;
  if (id === undefined) throw new Error("ai-openapi: every body and response schema needs a name in SCHEMA_NAMES");
  return { $ref: `${REF_PREFIX}${id}` };
}

function operation(route: AiRoute, registry: z.core.$ZodRegistry<{ id: string }>): JsonSchema {
  const parameters: JsonSchema[] = Object.entries(route.params ?? {}).map(([name, description]) => ({ name, in: "path", required: true, description, schema: { type: "string" } }));
  if (route.query) {
    const { properties = {} } = z.toJSONSchema(route.query, { io: "input" }) as { properties?: Record<string, JsonSchema> };
    for (const [name, schema] of Object.entries(properties)) parameters.push({ name, in: "query", required: false, schema });
  }
  const { response } = route;
  const content = response.schema
    ? { "application/json": { schema: ref(response.schema, registry) }, ...(response.stream ? { "text/event-stream": { schema: { type: "string" } } } : {}) }
    : undefined;
  return {
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    tags: [route.tag],
    ...(route.open ? { security: [] } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.body ? { requestBody: { required: true, content: { "application/json": { schema: ref(route.body, registry) } } } } : {}),
    responses: {
      200: { description: response.description, ...(route.tag === "Inference" ? { headers: EVENT_ID_HEADER } : {}), ...(content ? { content } : {}) },
      ...errors(route.errors),
    },
  };
}

let cached: JsonSchema | undefined;

export function aiOpenApiDocument(): JsonSchema {
  if (cached) return cached;
  // Every named schema is registered up front, so one nested in another is a `$ref` too.
  const registry = z.registry<{ id: string }>();
  for (const [schema, id] of SCHEMA_NAMES) registry.add(schema, { id });
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of AI_ROUTES) (paths[route.path] ??= {})[route.method] = operation(route, registry);
  const { schemas } = z.toJSONSchema(registry, { io: "input", uri: (id) => `${REF_PREFIX}${id}` }) as { schemas: Record<string, JsonSchema> };
  const components = Object.fromEntries(Object.entries(schemas).map(([id, { $schema: _dialect, $id: _uri, id: _id, ...schema }]) => [id, schema]));
  cached = {
    openapi: "3.1.0",
    info: {
      title: "Tollgate inference API",
      version: "1",
      description:
        "OpenAI-compatible: point an OpenAI SDK's base URL at `/ai/v1` and use a Tollgate key (`tg-…`). Bodies are OpenAI's; this document lists what Tollgate checks and adds.",
    },
    servers: [{ url: "/" }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "A realtime, batch or playground key (`tg-…`)" } },
      schemas: { Error: ERROR_ENVELOPE_JSON_SCHEMA, ...components },
    },
  };
  return cached;
}
