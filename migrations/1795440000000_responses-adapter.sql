-- Up Migration
-- A deployment whose model server only speaks Chat Completions can still be offered on
-- POST /ai/v1/responses: the gateway translates the request and the answer (JSON and SSE).
ALTER TABLE deployed_models ADD COLUMN responses_via_chat boolean NOT NULL DEFAULT false;

-- Down Migration
ALTER TABLE deployed_models DROP COLUMN responses_via_chat;
