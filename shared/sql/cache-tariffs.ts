/**
 * A model's cache tariffs as one JSON array (every row, expired ones too, ordered by valid_from,
 * id: a total order), each element what `cacheTariffFromRow` (shared/pricing.ts) reads. `dm` is the
 * query's deployed_models row. The gateway's access lookup and the consumer's pricing read the
 * same tariffs the same way, so a request is gated and billed with one view of them.
 */
export const CACHE_TARIFFS_JSON = `coalesce((SELECT json_agg(json_build_object(
             'read', ct.read_multiplier::text, 'write5m', ct.write_multiplier_5m::text,
             'write1h', ct.write_multiplier_1h::text, 'write24h', ct.write_multiplier_24h::text,
             'validFromUs', floor(extract(epoch FROM ct.valid_from) * 1000000)::bigint::text,
             'validUntilUs', floor(extract(epoch FROM ct.valid_until) * 1000000)::bigint::text)
             ORDER BY ct.valid_from, ct.id)
             FROM model_cache_tariffs ct WHERE ct.deployed_model_id = dm.id), '[]'::json)`;
