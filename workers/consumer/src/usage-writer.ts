/**
 * The usage write path against any SqlClient (the Neon PoolClient in the worker, node-postgres in
 * benchmarks): enrich the whole batch in one query (key owners and model tariffs), price it, then one transaction —
 * analytics rows, ledger rows for the analytics rows that were new, and the fold of exactly those
 * ledger rows into the balance checkpoints (a single statement: shared/sql/usage-write.ts).
 * Redelivery and concurrent delivery change nothing: analytics rows are keyed by event_id, ledger
 * rows by `usage:<event_id>`, and only rows an INSERT returned are charged or folded.
 */
import { balanceCrossings, cacheTariffFromRow, tariffFromRow, type BalanceCrossing, type CacheTariffRow } from "../../../shared/pricing.ts";
import type { SqlClient } from "../../../shared/sql/client.ts";
import { CACHE_TARIFFS_JSON } from "../../../shared/sql/cache-tariffs.ts";
import type { BalanceChange } from "../../../shared/sql/ledger.ts";
import { modelFingerprintsSql } from "../../../shared/sql/model-fingerprint.ts";
import { writeUsageAndRollup } from "../../../shared/sql/analytics-rollup.ts";
import type { PricingBasis } from "../../../shared/sql/usage-write.ts";
import type { UsageMessage } from "../../../shared/usage-message.ts";
import { storeDeadLetters, type DeadLetter } from "./dead-letters.ts";
import { planUsageBatch, type KeyOwner, type ModelPricing } from "./usage-plan.ts";

export interface UsageWriteOutcome {
  /** Analytics rows written now (the rest were already recorded). */
  recorded: number;
  alreadyRecorded: number;
  /** Ledger rows written now. */
  charged: number;
  balanceChanges: BalanceChange[];
  /** Balances that crossed zero because of this batch; each crossing is reported once. */
  crossings: BalanceCrossing[];
  /** Billing problems worth an operator's attention (also logged). */
  problems: string[];
}

const keyIds = (messages: readonly UsageMessage[]): string[] => [
  ...new Set(messages.flatMap((m) => (m.api_key_id ? [m.api_key_id.toLowerCase()] : []))),
];
const modelAliases = (messages: readonly UsageMessage[]): string[] => [...new Set(messages.flatMap((m) => (m.model === null ? [] : [m.model])))];

type KeyOwnerRow = { id: string; user_id: string; purpose: string };

const KEY_OWNERS_SQL = "SELECT id::text AS id, user_id::text AS user_id, purpose FROM api_keys WHERE id = ANY($1::uuid[])";

function ownersFromRows(rows: readonly KeyOwnerRow[]): Map<string, KeyOwner> {
  const owners = new Map<string, KeyOwner>();
  for (const row of rows) owners.set(row.id, { userId: row.user_id, purpose: row.purpose });
  return owners;
}

/** api_key_id → (owner, purpose). Deleted keys are included: a key deleted after its request still pays. */
export async function lookupKeyOwners(client: SqlClient, messages: readonly UsageMessage[]): Promise<Map<string, KeyOwner>> {
  const ids = keyIds(messages);
  if (ids.length === 0) return new Map();
  const { rows } = await client.query<KeyOwnerRow>(KEY_OWNERS_SQL, [ids]);
  return ownersFromRows(rows);
}

type ModelTariffRow = {
  alias: string;
  provider_name: string | null;
  purpose: string | null;
  completion_window: string | null;
  input_price: string | null;
  output_price: string | null;
  valid_from_us: string | null;
  valid_until_us: string | null;
  /** The model's model_cache_tariffs rows, the same on every row of the model. */
  cache_tariffs: CacheTariffRow[];
};


/**
 * Every tariff row of the models named in `aliases` (a text[] parameter), expired ones too. Rows of
 * one model are ordered by `sort_from` DESC, `sort_id`; its cache tariffs by valid_from, id — a total
 * order, so the same configuration always yields the same rows and the same fingerprint.
 */
const modelPricingSql = (aliases: string): string => `SELECT dm.alias, ie.name AS provider_name,
            mt.api_key_purpose AS purpose, mt.completion_window,
            mt.input_price_per_token::text AS input_price, mt.output_price_per_token::text AS output_price,
            floor(extract(epoch FROM mt.valid_from) * 1000000)::bigint::text AS valid_from_us,
            floor(extract(epoch FROM mt.valid_until) * 1000000)::bigint::text AS valid_until_us,
            ${CACHE_TARIFFS_JSON} AS cache_tariffs,
            mt.valid_from AS sort_from, mt.id AS sort_id
       FROM deployed_models dm
       LEFT JOIN inference_endpoints ie ON ie.id = dm.hosted_on
       LEFT JOIN model_tariffs mt ON mt.deployed_model_id = dm.id
      WHERE dm.alias = ANY(${aliases}::text[])`;

function modelsFromRows(rows: readonly ModelTariffRow[]): Map<string, ModelPricing> {
  const models = new Map<string, ModelPricing>();
  for (const row of rows) {
    let model = models.get(row.alias);
    if (!model) {
      model = { providerName: row.provider_name, tariffs: [], cacheTariffs: row.cache_tariffs.map(cacheTariffFromRow) };
      models.set(row.alias, model);
    }
    if (row.purpose !== null && row.input_price !== null && row.output_price !== null && row.valid_from_us !== null) {
      model.tariffs.push(
        tariffFromRow({
          purpose: row.purpose,
          completionWindow: row.completion_window,
          inputPricePerToken: row.input_price,
          outputPricePerToken: row.output_price,
          validFromUs: row.valid_from_us,
          validUntilUs: row.valid_until_us,
        }),
      );
    }
  }
  return models;
}

/**
 * alias → (endpoint name, every tariff, every cache tariff). Expired tariffs are included so a batch created before a
 * price change pays the old price; instants come back as epoch microseconds so no precision is lost.
 */
export async function lookupModelPricing(client: SqlClient, messages: readonly UsageMessage[]): Promise<Map<string, ModelPricing>> {
  const aliases = modelAliases(messages);
  if (aliases.length === 0) return new Map();
  const { rows } = await client.query<ModelTariffRow>(`${modelPricingSql("$1")} ORDER BY dm.alias, mt.valid_from DESC, mt.id`, [aliases]);
  return modelsFromRows(rows);
}

/** What a batch is priced with: its keys' owners, its models' pricing and each model's fingerprint. */
export interface Enrichment {
  owners: Map<string, KeyOwner>;
  models: Map<string, ModelPricing>;
  fingerprints: Map<string, string>;
}

/**
 * Both lookups (lookupKeyOwners, lookupModelPricing) in one query, so one round trip: each comes
 * back as a JSON array of exactly the rows its own query returns, in the same order; with them
 * each model's fingerprint.
 */
export async function lookupEnrichment(client: SqlClient, messages: readonly UsageMessage[]): Promise<Enrichment> {
  const ids = keyIds(messages);
  const aliases = modelAliases(messages);
  if (ids.length === 0 && aliases.length === 0) return { owners: new Map(), models: new Map(), fingerprints: new Map() };
  const { rows } = await client.query<{ owners: KeyOwnerRow[]; models: ModelTariffRow[]; fingerprints: Record<string, string> }>(
    `SELECT (SELECT coalesce(json_agg(k), '[]'::json) FROM (${KEY_OWNERS_SQL}) k) AS owners,
            (SELECT coalesce(json_agg(m ORDER BY m.alias, m.sort_from DESC, m.sort_id), '[]'::json)
               FROM (${modelPricingSql("$2")}) m) AS models,
            (SELECT coalesce(json_object_agg(f.alias, f.fingerprint), '{}'::json) FROM (${modelFingerprintsSql("$2")}) f) AS fingerprints`,
    [ids, aliases],
  );
  const row = rows[0];
  if (!row) throw new Error("enrichment returned no row");
  return { owners: ownersFromRows(row.owners), models: modelsFromRows(row.models), fingerprints: new Map(Object.entries(row.fingerprints)) };
}

/** What the batch was priced with, for the write to check in its own snapshot. */
function pricingBasis(enrichment: Enrichment): PricingBasis {
  return {
    keys: [...enrichment.owners].map(([id, owner]) => [id, owner.userId, owner.purpose] as const),
    models: [...enrichment.fingerprints],
  };
}

/**
 * Enrichment kept across batches (and, in the worker, across the invocations an isolate serves):
 * a batch whose keys and models are all here skips the lookup round trip. Nothing here is trusted
 * blindly — the write checks the basis in its own snapshot (pricingBasis) and writes nothing if
 * any of it changed (a new tariff, say); the batch is then looked up afresh and written again.
 * Keys and models that were not found are never kept, so a batch naming one is always looked up.
 */
export class EnrichmentCache {
  private readonly owners = new Map<string, KeyOwner>();
  private readonly models = new Map<string, { pricing: ModelPricing; fingerprint: string }>();

  constructor(private readonly maxEntries = 10_000) {}

  /** The batch's enrichment if every key and model it names is cached, else null. */
  get(messages: readonly UsageMessage[]): Enrichment | null {
    const found: Enrichment = { owners: new Map(), models: new Map(), fingerprints: new Map() };
    for (const id of keyIds(messages)) {
      const owner = this.owners.get(id);
      if (!owner) return null;
      found.owners.set(id, owner);
    }
    for (const alias of modelAliases(messages)) {
      const model = this.models.get(alias);
      if (!model) return null;
      found.models.set(alias, model.pricing);
      found.fingerprints.set(alias, model.fingerprint);
    }
    return found;
  }

  put(enrichment: Enrichment): void {
    if (this.owners.size + this.models.size > this.maxEntries) this.clear();
    for (const [id, owner] of enrichment.owners) this.owners.set(id, owner);
    for (const [alias, pricing] of enrichment.models) {
      const fingerprint = enrichment.fingerprints.get(alias);
      if (fingerprint !== undefined) this.models.set(alias, { pricing, fingerprint });
    }
  }

  clear(): void {
    this.owners.clear();
    this.models.clear();
  }
}

/** The worker's cache: pure data, validated by every write that uses it (STYLE: only pure caches at module scope). */
const ENRICHMENT_CACHE = new EnrichmentCache();

/** How often a batch is re-enriched and rewritten because its pricing basis changed under it before giving up (the queue retries). */
const MAX_WRITE_ATTEMPTS = 3;

/**
 * Writes one batch of parsed, storable, de-duplicated messages. Throws on any database error;
 * the usage write is one statement, so nothing of it is then written and the caller retries.
 *
 * The batch's dead letters are stored first, on their own: storing them is idempotent, so if the
 * usage write then fails they are simply stored again (as no-ops) on the retry — and a crossing is
 * never lost to a failure after the usage write committed.
 */
export async function writeUsageBatch(
  client: SqlClient,
  messages: readonly UsageMessage[],
  deadLetters: readonly DeadLetter[] = [],
  cache: EnrichmentCache = ENRICHMENT_CACHE,
): Promise<UsageWriteOutcome> {
  await storeDeadLetters(client, deadLetters);
  let enrichment = cache.get(messages);
  for (let attempt = 1; ; attempt++) {
    if (!enrichment) {
      // Enrichment reads committed configuration; it needs no transaction of its own.
      enrichment = await lookupEnrichment(client, messages);
      cache.put(enrichment);
    }
    const plan = planUsageBatch(messages, enrichment.owners, enrichment.models);
    // The usage statement, then the analytics rollup of the rows it inserted, in one transaction.
    const written = await writeUsageAndRollup(client, plan.rows, pricingBasis(enrichment));
    if (written.basisCurrent) {
      return {
        recorded: written.recorded,
        alreadyRecorded: plan.rows.length - written.recorded,
        charged: written.charged,
        balanceChanges: written.balanceChanges,
        crossings: balanceCrossings(written.balanceChanges),
        problems: plan.problems,
      };
    }
    // Priced with keys or tariffs that changed since: nothing was written. Price it afresh.
    cache.clear();
    enrichment = null;
    if (attempt >= MAX_WRITE_ATTEMPTS) throw new Error(`usage write: pricing data changed under the batch ${attempt} times in a row; retrying later`);
  }
}
