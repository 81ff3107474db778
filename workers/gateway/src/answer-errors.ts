/**
 * How every app of the gateway answers an error or an unknown route: OpenAI's error envelope
 * (app.ts, and admin-app.ts, which is an app of its own).
 */
import type { Context, Env, Hono } from "hono";
import { isDatabaseUnavailable } from "../../../shared/db.ts";
import { ApiError } from "../../../shared/errors.ts";
import { unavailable } from "./access.ts";
import { ConfigError } from "./config.ts";

/** The answer to an error a handler threw. */
export function errorResponse(err: Error, c: Context): Response {
  if (err instanceof ApiError) return err.toResponse();
  // Postgres unreachable or not answering in time (any read, admin API included): 503, never a 500.
  if (isDatabaseUnavailable(err)) return unavailable(err).toResponse();
  // Log the detail for operators; the caller gets a generic message (which may name a setting,
  // never a value).
  console.error(`unhandled error on ${c.req.method} ${c.req.path}: ${err.stack ?? err.message}`);
  const message = err instanceof ConfigError ? err.message : "The gateway hit an internal error. Retry; if it persists, contact the operator.";
  return new ApiError("internal_error", message).toResponse();
}

export function answerErrors<E extends Env>(app: Hono<E>): void {
  app.onError(errorResponse);
  app.notFound((c) => new ApiError("not_found", `No route for ${c.req.method} ${c.req.path}.`).toResponse());
}
