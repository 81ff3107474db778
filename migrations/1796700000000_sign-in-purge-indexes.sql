-- Up Migration
-- Old sign-in rows are purged a bounded batch at a time on every sign-in (see docs/auth.md): these
-- indexes let that batch be found without scanning the tables.
CREATE INDEX sessions_ended_idx ON sessions ((coalesce(revoked_at, expires_at)));
CREATE INDEX sign_in_failures_failed_at_idx ON sign_in_failures (failed_at);

-- Down Migration
DROP INDEX sign_in_failures_failed_at_idx;
DROP INDEX sessions_ended_idx;
