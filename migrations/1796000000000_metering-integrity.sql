-- Up Migration
-- Billing integrity (#14). Each analytics row says where its token counts come from
-- ('upstream': the model server's usage report; 'estimated': Tollgate counted them because the
-- report was missing or invalid; 'clamped': a count past the documented maximum was cut to it),
-- whether the client went away before the response ended, and the gateway's own price (the
-- ledger charges total_cost, the consumer's authoritative price; the two differ only when a
-- tariff changed in between). A model says what happens to its upstream when the client leaves.
ALTER TABLE http_analytics
    ADD COLUMN usage_source text NOT NULL DEFAULT 'upstream' CHECK (usage_source IN ('upstream', 'estimated', 'clamped')),
    ADD COLUMN client_disconnected boolean NOT NULL DEFAULT false,
    ADD COLUMN gateway_cost numeric;
ALTER TABLE deployed_models
    ADD COLUMN on_client_disconnect text NOT NULL DEFAULT 'cancel' CHECK (on_client_disconnect IN ('cancel', 'drain'));

-- Down Migration
ALTER TABLE deployed_models DROP COLUMN on_client_disconnect;
ALTER TABLE http_analytics DROP COLUMN gateway_cost, DROP COLUMN client_disconnected, DROP COLUMN usage_source;
