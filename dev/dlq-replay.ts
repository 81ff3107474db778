/**
 * `npm run dlq:replay` — sends the stored dead letters back onto the usage queue.
 *
 * Node cannot reach a Cloudflare Queue, so this asks the consumer worker to do it:
 * `POST <TOLLGATE_CONSUMER_URL>/admin/dlq/replay` with `Authorization: Bearer <ADMIN_TOKEN>`. The
 * worker re-enqueues every un-replayed row whose body is a valid usage message and marks it
 * replayed; malformed rows stay for a person to look at. Running it again is harmless: the write
 * path is idempotent by event id.
 *
 *   TOLLGATE_CONSUMER_URL=https://tollgate-consumer.<account>.workers.dev ADMIN_TOKEN=… npm run dlq:replay
 */
import { fileURLToPath } from "node:url";
import * as z from "zod";
import { errorMessage } from "../shared/errors.ts";

const CountsSchema = z.object({ replayed: z.number().int(), malformed: z.number().int(), more: z.boolean(), cursor: z.string() });
export type ReplayCounts = Omit<z.infer<typeof CountsSchema>, "cursor">;

/** Rows per request; the worker pages through them 100 at a time. */
const PER_REQUEST = 1000;

/** Calls the endpoint until nothing is left; returns the totals. */
export async function replayAll(
  consumerUrl: string,
  adminToken: string,
  progress: (line: string) => void = () => {},
  fetchImpl: typeof fetch = fetch,
): Promise<ReplayCounts> {
  const endpoint = new URL("/admin/dlq/replay", consumerUrl);
  endpoint.searchParams.set("limit", String(PER_REQUEST));
  const total: ReplayCounts = { replayed: 0, malformed: 0, more: false };
  for (let round = 1; ; round++) {
    // Continue after the last row examined, so malformed rows (which stay) are read once per run.
    const res = await fetchImpl(endpoint, { method: "POST", headers: { authorization: `Bearer ${adminToken}` }, signal: AbortSignal.timeout(120_000) });
    const text = await res.text();
    if (!res.ok) throw new Error(`${endpoint.origin} answered ${res.status}: ${text.slice(0, 300)}`);
    const counts = CountsSchema.parse(JSON.parse(text));
    total.replayed += counts.replayed;
    total.malformed += counts.malformed;
    progress(`round ${round}: ${counts.replayed} re-enqueued, ${counts.malformed} malformed left in place${counts.more ? ", more to do" : ""}`);
    if (!counts.more) return total;
    endpoint.searchParams.set("after", counts.cursor);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const url = process.env.TOLLGATE_CONSUMER_URL;
  const token = process.env.ADMIN_TOKEN;
  if (!url || !token) {
    console.error(
      "Set TOLLGATE_CONSUMER_URL (the consumer worker's URL) and ADMIN_TOKEN (its admin secret), e.g.\n" +
        "  TOLLGATE_CONSUMER_URL=https://tollgate-consumer.example.workers.dev ADMIN_TOKEN=… npm run dlq:replay",
    );
    process.exit(2);
  }
  console.log(`Replaying dead letters through ${new URL(url).origin} …`);
  replayAll(url, token, (line) => console.log(`  · ${line}`))
    .then((t) => console.log(`done: ${t.replayed} message(s) re-enqueued, ${t.malformed} malformed row(s) left in dead_letters`))
    .catch((err: unknown) => {
      console.error(`dlq:replay failed: ${errorMessage(err)}`);
      process.exit(1);
    });
}
