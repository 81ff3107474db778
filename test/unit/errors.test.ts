import { describe, expect, it } from "vitest";
import { ApiError, ERROR_CODES } from "../../shared/errors.ts";

describe("ApiError", () => {
  it("renders the OpenAI error envelope with the mapped status", async () => {
    const res = new ApiError("model_not_found", "no such model", { param: "model" }).toResponse();
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(await res.json()).toEqual({
      error: { message: "no such model", type: "invalid_request_error", code: "model_not_found", param: "model" },
    });
  });

  it("maps the contract's codes to the contract's statuses", () => {
    const expected = {
      invalid_request_error: 400,
      invalid_api_key: 401,
      insufficient_credits: 402,
      model_access_denied: 403,
      model_not_found: 404,
      request_too_large: 413,
      rate_limit_exceeded: 429,
      concurrency_limit_exceeded: 429,
      upstream_error: 502,
      upstream_timeout: 504,
    } as const;
    for (const [code, status] of Object.entries(expected)) {
      expect(ERROR_CODES[code as keyof typeof ERROR_CODES].status, code).toBe(status);
    }
  });

  it("carries extra headers such as Retry-After", () => {
    const res = new ApiError("rate_limit_exceeded", "slow down", { headers: { "retry-after": "2" } }).toResponse();
    expect(res.headers.get("retry-after")).toBe("2");
    expect(res.status).toBe(429);
  });
});
