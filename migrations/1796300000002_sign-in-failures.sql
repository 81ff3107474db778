-- Up Migration
-- Failed password sign-ins per email (as SHA-256 of the lower-cased address: attempted emails are
-- not kept in clear), so guessing is throttled per account (see docs/auth.md).
CREATE TABLE sign_in_failures (
    id        bigserial PRIMARY KEY,
    subject   text NOT NULL CHECK (subject ~ '^[0-9a-f]{64}$'),
    failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sign_in_failures_subject_idx ON sign_in_failures (subject, failed_at);

-- Down Migration
DROP TABLE sign_in_failures;
