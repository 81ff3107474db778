-- Up Migration
-- Links a stored response to its request's usage record (http_analytics.event_id), so the
-- responses views can show tokens and cost beside each response. No foreign key: the two rows
-- are written by separate transactions and either may land first.
ALTER TABLE requests ADD COLUMN event_id uuid;

-- Down Migration
ALTER TABLE requests DROP COLUMN event_id;
