/**
 * `GET /requests/{id}`: one analytics row with what it cost, part by part, and the stored
 * response it produced (if the request was stored).
 *
 * The breakdown is recomputed with the consumer's own pricing code (shared/pricing.ts) from the
 * row's token columns and the prices the row was charged at (`input_price_per_token`,
 * `output_price_per_token`), with the cache tariff in force at the row's pricing time, so its
 * `total` equals `total_cost`. The tariff named is the one the consumer chose: for a realtime row
 * the tariff valid at the request's timestamp; for a batch row (priced when its batch was created,
 * an instant the row does not keep) the latest tariff at or before the timestamp that carries the
 * row's prices and that the selection rule picks while it was valid.
 *
 * Visibility is `GET /requests`'s: viewer roles see every row, anyone else their own; another
 * user's row answers 404 exactly as a missing one does.
 */
import type { Context } from "hono";
import * as z from "zod";
import { costBreakdown, findBestTariff, findCacheTariff, Money, moneyText, tariffFromRow, type CacheTariff, type Tariff } from "../../../../shared/pricing.ts";
import { REQUEST_COLUMNS } from "../../../../shared/sql/analytics-query.ts";
import { readStoredBodies } from "../responses.ts";
import { RequestView, requestScope } from "./analytics.ts";
import type { AdminApp } from "./principal.ts";
import { notFound, pathKeySchema, type AdminInput } from "./validation.ts";

const Dec = z.string().describe("Decimal string");

export const TariffRef = z.object({
  id: z.uuid(),
  name: z.string(),
  purpose: z.string(),
  completion_window: z.string().nullable(),
  input_price_per_token: Dec,
  output_price_per_token: Dec,
  valid_from: z.iso.datetime(),
});
export const CacheTariffRef = z.object({
  id: z.uuid(),
  read_multiplier: Dec,
  write_multiplier_5m: Dec.nullable(),
  write_multiplier_1h: Dec.nullable(),
  write_multiplier_24h: Dec.nullable(),
  valid_from: z.iso.datetime(),
});
export const CostBreakdownView = z.object({
  input: Dec.describe("Prompt tokens neither read from nor written to the prompt cache, at the input price"),
  cache_read: Dec,
  cache_write_5m: Dec,
  cache_write_1h: Dec,
  cache_write_24h: Dec,
  output: Dec,
  total: Dec.describe("The sum of the parts: equals the row's total_cost"),
  tariff: TariffRef.nullable().describe("The tariff the request was priced with; null when it was free"),
  cache_tariff: CacheTariffRef.nullable().describe("The prompt-cache tariff in force at the pricing time, if any"),
});
export const StoredResponseRef = z.object({ id: z.string(), request_body: z.string().nullable(), response_body: z.string().nullable() });
export const RequestDetailView = RequestView.extend({
  cost_breakdown: CostBreakdownView,
  stored_response: StoredResponseRef.nullable().describe("The stored response this request produced (Responses API, stored chat), if any"),
});
export type RequestDetailView = z.output<typeof RequestDetailView>;

type DetailRow = Omit<RequestView, "timestamp"> & {
  timestamp: Date | string;
  at_us: string;
  input_price: string | null;
  output_price: string | null;
  batch_sla: string;
  key_purpose: string | null;
};
type TariffRow = { id: string; name: string; purpose: string; completion_window: string | null; input: string; output: string; from_us: string; until_us: string | null; valid_from: string };
type CacheRow = { id: string; read: string; w5m: string | null; w1h: string | null; w24h: string | null; from_us: string; until_us: string | null; valid_from: string };

// A bigint id; anything else names no row.
const ROW_ID = /^[1-9][0-9]{0,18}$/;
const MICROS = (col: string) => `(extract(epoch from ${col}) * 1000000)::bigint::text`;

/** `{id}` of /requests/{id}: a row id (anything else is the 404 a missing row gets). */
export const RequestRowId = pathKeySchema(ROW_ID, (id) => notFound("request", id));

export async function getRequest(c: Context<AdminApp>, parsed: AdminInput<"id">): Promise<Response> {
  const id = parsed.params.id;
  const db = c.get("db");
  const { rows } = await db.query<DetailRow>(
    `SELECT ${REQUEST_COLUMNS}, ${MICROS('"timestamp"')} AS at_us, input_price_per_token::text AS input_price,
            output_price_per_token::text AS output_price, batch_sla,
            (SELECT k.purpose FROM api_keys k WHERE k.id = http_analytics.api_key_id) AS key_purpose
       FROM http_analytics WHERE id = $1`,
    [id],
  );
  const row = rows[0];
  const scope = requestScope(c.get("actor"));
  if (!row || (scope !== null && row.user_id !== scope)) throw notFound("request", id);

  // One after the other: an admin request holds at most one connection.
  const tariffs = await db.query<TariffRow>(
    `SELECT t.id, t.name, t.api_key_purpose AS purpose, t.completion_window, t.input_price_per_token::text AS input,
            t.output_price_per_token::text AS output, ${MICROS("t.valid_from")} AS from_us,
            CASE WHEN t.valid_until IS NULL THEN NULL ELSE ${MICROS("t.valid_until")} END AS until_us, to_json(t.valid_from) #>> '{}' AS valid_from
       FROM model_tariffs t JOIN deployed_models m ON m.id = t.deployed_model_id
      WHERE m.alias = $1 ORDER BY t.valid_from DESC, t.id`,
    [row.model],
  );
  const caches = await db.query<CacheRow>(
    `SELECT t.id, t.read_multiplier::text AS read, t.write_multiplier_5m::text AS w5m, t.write_multiplier_1h::text AS w1h,
            t.write_multiplier_24h::text AS w24h, ${MICROS("t.valid_from")} AS from_us,
            CASE WHEN t.valid_until IS NULL THEN NULL ELSE ${MICROS("t.valid_until")} END AS until_us, to_json(t.valid_from) #>> '{}' AS valid_from
       FROM model_cache_tariffs t JOIN deployed_models m ON m.id = t.deployed_model_id
      WHERE m.alias = $1`,
    [row.model],
  );
  const stored = await db.query<{ id: string; request_body: string | null; response_body: string | null; body_object_key: string | null }>(
    "SELECT id, request_body, response_body, body_object_key FROM requests WHERE event_id = $1 ORDER BY created_at LIMIT 1",
    [row.event_id],
  );

  let storedResponse: z.output<typeof StoredResponseRef> | null = null;
  const s = stored.rows[0];
  if (s) {
    storedResponse = { id: s.id, request_body: s.request_body, response_body: s.response_body };
    if (s.body_object_key) {
      const bodies = await readStoredBodies(c.env.RESPONSES_BUCKET, s.body_object_key);
      storedResponse = { id: s.id, request_body: bodies?.request_body ?? null, response_body: bodies?.response_body ?? null };
    }
  }

  const detail: RequestDetailView = {
    // The schema keeps the view's fields and drops the pricing inputs read beside them.
    ...RequestView.parse({ ...row, timestamp: new Date(row.timestamp).toISOString() }),
    cost_breakdown: breakdown(row, tariffs.rows, caches.rows),
    stored_response: storedResponse,
  };
  return c.json(detail);
}

function breakdown(row: DetailRow, tariffRows: readonly TariffRow[], cacheRows: readonly CacheRow[]): z.output<typeof CostBreakdownView> {
  const tariffs = tariffRows.map((t) => ({
    row: t,
    tariff: tariffFromRow({ purpose: t.purpose, completionWindow: t.completion_window, inputPricePerToken: t.input, outputPricePerToken: t.output, validFromUs: t.from_us, validUntilUs: t.until_us }),
  }));
  const caches = cacheRows.map((t) => ({
    row: t,
    tariff: { multipliers: { read: t.read, write5m: t.w5m, write1h: t.w1h, write24h: t.w24h }, validFromUs: Number(t.from_us), validUntilUs: t.until_us === null ? null : Number(t.until_us) } satisfies CacheTariff,
  }));
  const zero = "0";
  if (row.input_price === null || row.output_price === null || row.total_cost === null) {
    // Not priced: free (no tariff applied), or refused before it reached a model.
    return { input: zero, cache_read: zero, cache_write_5m: zero, cache_write_1h: zero, cache_write_24h: zero, output: zero, total: zero, tariff: null, cache_tariff: null };
  }
  const { tariff, atUs } = pricedWith(row, tariffs.map((t) => t.tariff));
  const cacheTariff = findCacheTariff(caches.map((t) => t.tariff), atUs);
  const parts = costBreakdown(
    {
      promptTokens: row.prompt_tokens,
      completionTokens: row.completion_tokens,
      cache: { read_tokens: row.cache_read_tokens, write_5m_tokens: row.cache_write_5m_tokens, write_1h_tokens: row.cache_write_1h_tokens, write_24h_tokens: row.cache_write_24h_tokens },
    },
    { inputPricePerToken: new Money(row.input_price), outputPricePerToken: new Money(row.output_price) },
    cacheTariff?.multipliers,
  );
  if (!parts.total.eq(new Money(row.total_cost))) {
    console.warn(`cost breakdown of request ${row.id} sums to ${moneyText(parts.total)}, not its total_cost ${row.total_cost} (tariffs changed since?)`);
  }
  const t = tariffs.find((x) => x.tariff === tariff)?.row;
  const ct = caches.find((x) => x.tariff === cacheTariff)?.row;
  return {
    input: moneyText(parts.input),
    cache_read: moneyText(parts.cacheRead),
    cache_write_5m: moneyText(parts.cacheWrite5m),
    cache_write_1h: moneyText(parts.cacheWrite1h),
    cache_write_24h: moneyText(parts.cacheWrite24h),
    output: moneyText(parts.output),
    total: moneyText(parts.total),
    tariff: t
      ? { id: t.id, name: t.name, purpose: t.purpose, completion_window: t.completion_window, input_price_per_token: moneyText(new Money(t.input)), output_price_per_token: moneyText(new Money(t.output)), valid_from: new Date(t.valid_from).toISOString() }
      : null,
    cache_tariff: ct
      ? {
          id: ct.id,
          read_multiplier: moneyText(new Money(ct.read)),
          write_multiplier_5m: ct.w5m === null ? null : moneyText(new Money(ct.w5m)),
          write_multiplier_1h: ct.w1h === null ? null : moneyText(new Money(ct.w1h)),
          write_multiplier_24h: ct.w24h === null ? null : moneyText(new Money(ct.w24h)),
          valid_from: new Date(ct.valid_from).toISOString(),
        }
      : null,
  };
}

/**
 * The tariff the consumer chose for the row, and the pricing instant. Realtime rows were priced at
 * their timestamp. A batch row was priced at its batch's creation, which the row does not keep:
 * the latest tariff that starts at or before the timestamp, carries the row's prices and is the one
 * the selection rule picks at some instant it was valid, stands for it, priced at the latest such
 * instant not after the timestamp.
 */
function pricedWith(row: DetailRow, tariffs: readonly Tariff[]): { tariff: Tariff | null; atUs: number } {
  const atUs = Number(row.at_us);
  const purpose = row.key_purpose === "platform" ? null : row.key_purpose;
  const window = row.batch_sla || null;
  const samePrices = (t: Tariff) => t.inputPricePerToken.eq(new Money(row.input_price!)) && t.outputPricePerToken.eq(new Money(row.output_price!));
  const atTimestamp = findBestTariff(tariffs, purpose, window, atUs);
  if (row.fusillade_batch_id === null || (atTimestamp && samePrices(atTimestamp))) return { tariff: atTimestamp, atUs };
  for (const t of tariffs) {
    if (t.validFromUs > atUs || !samePrices(t)) continue;
    const at = t.validUntilUs === null ? atUs : Math.min(atUs, t.validUntilUs - 1);
    if (findBestTariff(tariffs, purpose, window, at) === t) return { tariff: t, atUs: at };
  }
  return { tariff: atTimestamp, atUs };
}
