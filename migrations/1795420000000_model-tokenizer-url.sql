-- Up Migration
-- A deployment may count prompt tokens with an external tokenizer service (the reference's
-- GET /v1/models + POST /v1/tokenize protocol) instead of the gateway's built-in tokenizer.
ALTER TABLE deployed_models ADD COLUMN tokenizer_url text
    CHECK (tokenizer_url IS NULL OR tokenizer_url ~ '^https?://');

-- Down Migration
ALTER TABLE deployed_models DROP COLUMN tokenizer_url;
