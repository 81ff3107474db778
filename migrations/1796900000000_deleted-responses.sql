-- Up Migration
-- A stored response deleted before the consumer wrote its row (DELETE /ai/v1/responses/{id} right
-- after the answer, served from the R2 live copy) leaves a tombstone here, so the queue's row,
-- arriving later or redelivered, is never written: a deleted response stays deleted. Keyed by
-- owner too, so a tombstone can only ever suppress its owner's response.
CREATE TABLE deleted_responses (
  id text NOT NULL,
  created_by uuid NOT NULL,
  deleted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (id, created_by)
);
CREATE INDEX deleted_responses_deleted_at_idx ON deleted_responses (deleted_at);

-- Down Migration
DROP TABLE deleted_responses;
