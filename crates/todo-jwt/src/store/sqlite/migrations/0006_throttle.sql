-- Counters for throttling (failed logins per account, credential requests per client address),
-- shared by every instance on the database. A counter counts within [window_start, expires_at).
CREATE TABLE throttle (
    key          TEXT PRIMARY KEY NOT NULL,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX throttle_expires_at ON throttle (expires_at);
