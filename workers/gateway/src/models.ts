/** GET /ai/v1/models: the models this key may use, in the OpenAI list shape. */
import type { Context } from "hono";
import { authenticateInference, RequestDb } from "./access.ts";
import { listAllowedModels } from "./store.ts";
import type { GatewayApp } from "./types.ts";

export async function handleListModels(c: Context<GatewayApp>): Promise<Response> {
  const config = c.get("config");
  const db = new RequestDb(config);
  try {
    const key = await authenticateInference(c.req.header("authorization"), db, config);
    const models = await listAllowedModels(db.get(), key.userId);
    return c.json({
      object: "list",
      data: models.map((m) => ({ id: m.alias, object: "model", created: Math.floor(Date.parse(m.createdAt) / 1000), owned_by: "tollgate" })),
    });
  } finally {
    db.close((p) => c.executionCtx.waitUntil(p));
  }
}
