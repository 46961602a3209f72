-- Shared rate-limit state (GCRA, core/src/rate_limit.rs): one theoretical arrival time per
-- key, where the key is the SHA-256 of a scope and a subject (a login e-mail address or
-- client IP), so no address is stored in clear. The same table as
-- migrations/postgres/0004_rate_limits.sql; rows whose `tat` has passed are deleted by the
-- store as it goes.
CREATE TABLE rate_limits (
    key BLOB PRIMARY KEY,
    tat TEXT
);
CREATE INDEX rate_limits_tat ON rate_limits(tat);
