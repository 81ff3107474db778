/**
 * What a model's pricing is built from, as one value to compare: the enrichment lookup returns it
 * with the tariffs it read, and the usage write checks it again in its own snapshot (the pricing
 * basis, shared/sql/usage-write.ts) before it writes anything priced with them.
 */

/**
 * Per model alias, an md5 over its deployment, endpoint name and whole tariff and cache-tariff
 * rows, serialized unambiguously (a record of arrays of records, each in a fixed order). Any change
 * to what its pricing is built from changes it (so do a few changes that would not matter, which
 * only cost a fresh lookup).
 */
export const modelFingerprintsSql = (aliases: string): string => `SELECT dm.alias,
            md5(ROW(dm.id, ie.name,
                    ARRAY(SELECT mt FROM model_tariffs mt WHERE mt.deployed_model_id = dm.id ORDER BY mt.id),
                    ARRAY(SELECT ct FROM model_cache_tariffs ct WHERE ct.deployed_model_id = dm.id ORDER BY ct.id))::text) AS fingerprint
       FROM deployed_models dm
       LEFT JOIN inference_endpoints ie ON ie.id = dm.hosted_on
      WHERE dm.alias = ANY(${aliases}::text[])`;
