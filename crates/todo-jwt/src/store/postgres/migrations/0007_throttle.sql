-- Counters for throttling (failed logins per account, credential requests per client address),
-- shared by every instance on the database. A counter counts within [window_start, expires_at).
CREATE TABLE throttle (
    key          TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

CREATE INDEX throttle_expires_at ON throttle (expires_at);
