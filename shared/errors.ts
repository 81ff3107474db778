/**
 * The one error type of the HTTP surface: a closed set of codes, each mapped once to a status and
 * an OpenAI-style `type`, rendered as the OpenAI envelope
 * `{"error":{"message","type","code","param"}}` that OpenAI SDKs parse.
 */
export const ERROR_CODES = {
  invalid_request_error: { status: 400, type: "invalid_request_error" },
  invalid_cache_control: { status: 400, type: "invalid_request_error" },
  invalid_api_key: { status: 401, type: "authentication_error" },
  invalid_credentials: { status: 401, type: "authentication_error" },
  insufficient_credits: { status: 402, type: "insufficient_quota" },
  permission_denied: { status: 403, type: "permission_error" },
  model_access_denied: { status: 403, type: "permission_error" },
  not_found: { status: 404, type: "invalid_request_error" },
  model_not_found: { status: 404, type: "invalid_request_error" },
  method_not_allowed: { status: 405, type: "invalid_request_error" },
  conflict: { status: 409, type: "invalid_request_error" },
  request_too_large: { status: 413, type: "invalid_request_error" },
  unsupported_media_type: { status: 415, type: "invalid_request_error" },
  rate_limit_exceeded: { status: 429, type: "rate_limit_error" },
  concurrency_limit_exceeded: { status: 429, type: "rate_limit_error" },
  internal_error: { status: 500, type: "api_error" },
  upstream_error: { status: 502, type: "api_error" },
  service_unavailable: { status: 503, type: "api_error" },
  upstream_timeout: { status: 504, type: "api_error" },
} as const satisfies Record<string, { status: number; type: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorEnvelope {
  error: { message: string; type: string; code: ErrorCode; param: string | null };
}

export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly param: string | null;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message: string, options: { param?: string | null; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.param = options.param ?? null;
    this.headers = options.headers ?? {};
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  toJSON(): ErrorEnvelope {
    return { error: { message: this.message, type: ERROR_CODES[this.code].type, code: this.code, param: this.param } };
  }

  toResponse(): Response {
    return new Response(JSON.stringify(this.toJSON()), {
      status: this.status,
      headers: { "content-type": "application/json", ...this.headers },
    });
  }
}

/** The envelope as JSON Schema, for the OpenAPI documents. */
export const ERROR_ENVELOPE_JSON_SCHEMA = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["message", "type", "code", "param"],
      properties: {
        message: { type: "string", description: "What went wrong and what to do about it" },
        type: { type: "string" },
        code: { type: "string", enum: Object.keys(ERROR_CODES) },
        param: { type: ["string", "null"], description: "The request field the error is about, e.g. `tariffs[1].purpose`" },
      },
    },
  },
} as const;

/** What a caught value says, for a log line: an Error's message, anything else as text. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
