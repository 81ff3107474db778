/** GET /ai/v1/models and /ai/v1/models/{model}: the models this key may use, in OpenAI's shapes. */
import type { Context } from "hono";
import { ApiError } from "../../../shared/errors.ts";
import { authenticateInference } from "./access.ts";
import { listAllowedModels, type ListedModel } from "./lookups.ts";
import type { GatewayApp } from "./types.ts";

export async function handleListModels(c: Context<GatewayApp>): Promise<Response> {
  const config = c.get("config");
  const db = c.get("database");
  const key = await authenticateInference(c.req.header("authorization"), db, config);
  const models = await listAllowedModels(db.get(), key.userId);
  return c.json({ object: "list", data: models.map(modelObject) });
}

function modelObject(m: ListedModel) {
  return { id: m.alias, object: "model", created: Math.floor(Date.parse(m.createdAt) / 1000), owned_by: "tollgate" };
}

/** GET /ai/v1/models/{model}: one model object; a model the key cannot use is a 404 like an unknown one. */
export async function handleGetModel(c: Context<GatewayApp>): Promise<Response> {
  const config = c.get("config");
  const alias = c.req.param("model") ?? "";
  const db = c.get("database");
  const key = await authenticateInference(c.req.header("authorization"), db, config);
  const found = (await listAllowedModels(db.get(), key.userId)).find((m) => m.alias === alias);
  if (!found) throw new ApiError("model_not_found", `The model '${alias}' does not exist or you do not have access to it.`, { param: "model" });
  return c.json(modelObject(found));
}
