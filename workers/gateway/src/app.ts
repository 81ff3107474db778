/**
 * The gateway's Hono app. Routes and middleware are wired here; behaviour lives in named modules.
 */
import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import { isDatabaseUnavailable } from "../../../shared/db.ts";
import { ApiError } from "../../../shared/errors.ts";
import { unavailable } from "./access.ts";
import { requireAdmin } from "./admin-auth.ts";
import { adminRouter } from "./admin/router.ts";
import { handleDeleteFile, handleFileContent, handleGetFile, handleListFiles, handleUploadFile } from "./batch-files.ts";
import { batchCaller } from "./batch-trust.ts";
import { handleCancelBatch, handleCreateBatch, handleGetBatch, handleListBatches } from "./batches.ts";
import { authRouter } from "./auth/routes.ts";
import { ConfigError } from "./config.ts";
import { aiOpenApiDocument } from "./docs/ai-openapi.ts";
import { adminDocsPage, aiDocsPage, docsScript, docsStyle } from "./docs/page.ts";
import { inferenceCors, passUpstreamHeaders } from "./headers.ts";
import { handleInference } from "./inference.ts";
import { init } from "./init.ts";
import { MemoRouter } from "./memo-router.ts";
import { meter } from "./meter.ts";
import { handleGetModel, handleListModels } from "./models.ts";
import { handleDeleteResponse, handleGetInputItems, handleGetResponse } from "./responses.ts";
import type { GatewayApp } from "./types.ts";

const INFERENCE_ROUTES = ["/ai/v1/chat/completions", "/ai/v1/completions", "/ai/v1/embeddings", "/ai/v1/responses"];

/** Hono's body limit, sized from config (which is only known per request; built once per size). */
const bodyLimits = new Map<number, MiddlewareHandler<GatewayApp>>();
const limitBody = createMiddleware<GatewayApp>(async function limitBody(c, next) {
  const maxSize = c.get("config").MAX_BODY_BYTES;
  let limit = bodyLimits.get(maxSize);
  if (!limit) {
    limit = bodyLimit({
      maxSize,
      onError: () => {
        throw new ApiError("request_too_large", `The request body is larger than the ${maxSize}-byte limit.`);
      },
    });
    bodyLimits.set(maxSize, limit);
  }
  return limit(c, next);
});

export function newApp(): Hono<GatewayApp> {
  const app = new Hono<GatewayApp>({ router: new MemoRouter() });

  app.onError((err, c) => {
    if (err instanceof ApiError) return err.toResponse();
    // Postgres unreachable or not answering in time (any read, admin API included): 503, never a 500.
    if (isDatabaseUnavailable(err)) return unavailable(err).toResponse();
    // Log the detail for operators; the caller gets a generic message (which may name a setting,
    // never a value).
    console.error(`unhandled error on ${c.req.method} ${c.req.path}: ${err.stack ?? err.message}`);
    const message = err instanceof ConfigError ? err.message : "The gateway hit an internal error. Retry; if it persists, contact the operator.";
    return new ApiError("internal_error", message).toResponse();
  });
  app.notFound((c) => new ApiError("not_found", `No route for ${c.req.method} ${c.req.path}.`).toResponse());

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  // Browser clients may call the inference API from other origins; the admin API never.
  app.use("/ai/*", inferenceCors);

  // Documentation: public pages with no data in them. Registered before the /admin door so the
  // admin page itself loads; the admin document it fetches still needs credentials.
  app.get("/ai/openapi.json", (c) => c.json(aiOpenApiDocument()));
  app.get("/ai/docs", aiDocsPage);
  app.get("/admin/docs", adminDocsPage);
  app.get("/docs/render.js", docsScript);
  app.get("/docs/docs.css", docsStyle);

  // The request's services (config, a lazy database handle) for every API route below.
  app.use("/ai/*", init);
  app.use("/admin/*", init);

  app.get("/ai/v1/models", handleListModels);
  // Aliases may contain slashes (`org/model`), as OpenAI-style model ids do.
  app.get("/ai/v1/models/:model{.+}", handleGetModel);
  app.get("/ai/v1/responses/:id", handleGetResponse);
  app.get("/ai/v1/responses/:id/input_items", handleGetInputItems);
  app.delete("/ai/v1/responses/:id", handleDeleteResponse);
  // Files and Batches APIs (OpenAI's; docs/batches.md).
  app.post("/ai/v1/files", handleUploadFile);
  app.get("/ai/v1/files", handleListFiles);
  app.get("/ai/v1/files/:id", handleGetFile);
  app.get("/ai/v1/files/:id/content", handleFileContent);
  app.delete("/ai/v1/files/:id", handleDeleteFile);
  app.post("/ai/v1/batches", handleCreateBatch);
  app.get("/ai/v1/batches", handleListBatches);
  app.get("/ai/v1/batches/:id", handleGetBatch);
  app.post("/ai/v1/batches/:id/cancel", handleCancelBatch);
  // Console sign-in: before the door, which these routes open (docs/auth.md).
  app.route("/admin/auth", authRouter());
  // Everything else under /admin needs admin credentials before it can even learn a route exists.
  app.use("/admin/*", requireAdmin);
  app.route("/admin", adminRouter());
  for (const path of INFERENCE_ROUTES) {
    app.post(path, batchCaller, meter, passUpstreamHeaders, limitBody, handleInference);
  }
  return app;
}
