/**
 * The consumer's only HTTP surface: `POST /admin/dlq/replay`, authorised by
 * `Authorization: Bearer <ADMIN_TOKEN>` (compared in constant time). It exists because Node tools
 * cannot reach a Cloudflare Queue; `dev/dlq-replay.ts` (npm run dlq:replay) calls it.
 *
 *   POST /admin/dlq/replay?limit=1000[&after=<cursor>]
 *     →  200 {"replayed":n,"malformed":m,"more":false,"cursor":"<last id examined>"}
 *
 * A run examines at most `limit` rows; when `more` is true, call again with `after=<cursor>`.
 */
import * as z from "zod";
import { constantTimeEqual } from "../../../shared/api-keys.ts";
import { withConnection, withPool } from "../../../shared/db.ts";
import { ApiError, errorMessage } from "../../../shared/errors.ts";
import { adminSettings } from "./config.ts";
import { replayDeadLetters, sendBatches, type ReplayableMessage } from "./dlq-replay.ts";

const QuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
  after: z.string().regex(/^\d{1,18}$/).default("0"),
});

function bearer(header: string | null): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return match?.[1] ?? null;
}

export async function handleAdminRequest(request: Request, env: ConsumerEnv): Promise<Response> {
  try {
    const url = new URL(request.url);
    if (url.pathname !== "/admin/dlq/replay") throw new ApiError("not_found", `No route for ${url.pathname}.`);
    if (request.method !== "POST") throw new ApiError("method_not_allowed", "Use POST.", { headers: { allow: "POST" } });

    const settings = adminSettings(env);
    // Fail closed, without echoing any value: an unconfigured token disables the endpoint.
    if (!settings) throw new ApiError("service_unavailable", "The admin endpoint is not configured on this worker.");
    const token = bearer(request.headers.get("authorization"));
    if (!token || !(await constantTimeEqual(token, settings.ADMIN_TOKEN))) {
      throw new ApiError("invalid_api_key", "Send 'Authorization: Bearer <ADMIN_TOKEN>'.");
    }
    const query = QuerySchema.safeParse({ limit: url.searchParams.get("limit") ?? undefined, after: url.searchParams.get("after") ?? undefined });
    if (!query.success) {
      const param = String(query.error.issues[0]?.path[0] ?? "limit");
      throw new ApiError("invalid_request_error", "limit must be an integer from 1 to 10000 and after a row id.", { param });
    }

    const send = async (messages: ReplayableMessage[]) => {
      for (const batch of sendBatches(messages)) await env.USAGE_QUEUE.sendBatch(batch.map((body) => ({ body })));
    };
    const counts = await withPool(settings, (pool) => withConnection(pool, (client) => replayDeadLetters(client, send, query.data.limit, query.data.after)));
    console.log(`dead-letter replay: ${counts.replayed} re-enqueued, ${counts.malformed} malformed left in place${counts.more ? ", more to do" : ""}`);
    return Response.json(counts);
  } catch (err) {
    if (err instanceof ApiError) return err.toResponse();
    console.error(`dead-letter replay failed: ${errorMessage(err)}`);
    return new ApiError("service_unavailable", "Replay failed part-way; rows already sent are marked. Run it again.").toResponse();
  }
}
