-- Up Migration
-- GET /admin/api/v1/requests/{id} finds the stored response of a usage row by its event id.
CREATE INDEX requests_event_id_idx ON requests (event_id) WHERE event_id IS NOT NULL;

-- Down Migration
DROP INDEX requests_event_id_idx;
