/**
 * The gateway's Hono app. Routes and middleware are wired here; behaviour lives in named modules.
 */
import { Hono, type Context, type Handler, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import { ApiError } from "../../../shared/errors.ts";
import { answerErrors, errorResponse } from "./answer-errors.ts";
import { handleDeleteFile, handleFileContent, handleGetFile, handleListFiles, handleUploadFile } from "./batch-files.ts";
import { batchCallOf } from "./batch-trust.ts";
import { handleCancelBatch, handleCreateBatch, handleGetBatch, handleListBatches } from "./batches.ts";
import { adminDocsPage, aiDocsPage, docsScript, docsStyle } from "./docs/page.ts";
import { AfterAnswer } from "./after-answer.ts";
import { inferenceCors, passUpstreamHeaders } from "./headers.ts";
import { handleInference } from "./inference.ts";
import { init, withServices } from "./init.ts";
import { MemoRouter } from "./memo-router.ts";
import { finishMeter, startMeter } from "./meter.ts";
import { handleGetModel, handleListModels } from "./models.ts";
import { handleDeleteResponse, handleGetInputItems, handleGetResponse } from "./responses.ts";
import type { GatewayApp } from "./types.ts";

const INFERENCE_ROUTES = ["/ai/v1/chat/completions", "/ai/v1/completions", "/ai/v1/embeddings", "/ai/v1/responses"];

/** Hono's body limit, sized from config (which is only known per request; built once per size). */
const bodyLimits = new Map<number, MiddlewareHandler<GatewayApp>>();
function bodyLimitOf(maxSize: number): MiddlewareHandler<GatewayApp> {
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
  return limit;
}

/**
 * An inference call, as one handler rather than a chain of middleware: the request's services,
 * the batch runner's identity (if it is the caller), the meter, the body limit and the handler;
 * then, on whatever was answered (an error too), the gateway's and the upstream's headers and the
 * usage message; work held until the answer is on its way (after-answer.ts) is let go. Each
 * middleware layer costs every request an async frame and a closure before the upstream is
 * called; as one handler, an inference call has two layers (CORS and this).
 */
const inference: Handler<GatewayApp> = (c) =>
  withServices(c, async () => {
    c.set("batchCall", batchCallOf(c.req.raw));
    const meter = startMeter(c);
    const afterAnswer = new AfterAnswer((p) => c.executionCtx.waitUntil(p));
    c.set("afterAnswer", afterAnswer);
    try {
      await bodyLimitOf(c.get("config").MAX_BODY_BYTES)(c, async () => {
        c.res = await handleInference(c);
      });
    } catch (err) {
      if (!(err instanceof Error)) throw err;
      c.error = err;
      c.res = errorResponse(err, c);
    } finally {
      afterAnswer.answered();
    }
    passUpstreamHeaders(c);
    finishMeter(c, meter);
    return c.res;
  });

/**
 * The admin app (admin-app.ts), imported on the first `/admin` request and kept: an isolate that
 * only serves inference never builds the admin API's schemas. A failed import is tried again on
 * the next request.
 */
let adminApp: Promise<Hono<GatewayApp>> | null = null;

const admin: Handler<GatewayApp> = async (c) => {
  adminApp ??= import("./admin-app.ts").then(
    (m) => m.newAdminApp(),
    (err: unknown) => {
      adminApp = null;
      throw err;
    },
  );
  return (await adminApp).fetch(c.req.raw, c.env, executionContextOf(c));
};

/** The request's execution context; none when the app is called without one (`app.request()` in tests). */
function executionContextOf(c: Context<GatewayApp>): Context<GatewayApp>["executionCtx"] | undefined {
  try {
    return c.executionCtx;
  } catch {
    return undefined;
  }
}

export function newApp(): Hono<GatewayApp> {
  const app = new Hono<GatewayApp>({ router: new MemoRouter() });

  answerErrors(app);

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  // Browser clients may call the inference API from other origins; the admin API never.
  app.use("/ai/*", inferenceCors);

  // Documentation: public pages with no data in them. Registered before the /admin door so the
  // admin page itself loads; the admin document it fetches still needs credentials.
  app.get("/ai/openapi.json", async (c) => c.json((await import("./docs/ai-openapi.ts")).aiOpenApiDocument()));
  app.get("/ai/docs", aiDocsPage);
  app.get("/admin/docs", adminDocsPage);
  app.get("/docs/render.js", docsScript);
  app.get("/docs/docs.css", docsStyle);

  // Inference: each route is one handler (`inference`, above), registered before the middleware
  // below so that none of it runs for them.
  for (const path of INFERENCE_ROUTES) app.post(path, inference);

  // The request's services (config, a lazy database handle) for every other API route below (the
  // admin app builds its own; inference calls theirs in `inference`).
  app.use("/ai/*", init);

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
  // Console sign-in, the admin door and the admin API: an app of its own, loaded on first use.
  app.all("/admin/*", admin);
  return app;
}
