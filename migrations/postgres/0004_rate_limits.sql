-- Shared rate-limit state (GCRA, core/src/rate_limit.rs): one theoretical arrival time per
-- key, where the key is the SHA-256 of a scope and a subject (a login e-mail address or
-- client IP), so no address is stored in clear. Every api process and Lambda function
-- counts in the same rows, so N instances allow what one would.
--
-- Cross-tenant table (a documented exception, like `users` and `jobs`): login limits apply
-- before any tenant is known, so there is no org_id and no row-level security.
-- `tat` is NULL only inside the transaction that first inserts a key; rows whose `tat` has
-- passed carry no information and are deleted by the store as it goes (index on tat).
CREATE TABLE rate_limits (
    key bytea PRIMARY KEY,
    tat timestamptz
);
CREATE INDEX rate_limits_tat ON rate_limits(tat);
GRANT SELECT, INSERT, UPDATE, DELETE ON rate_limits TO autonoma_app;
