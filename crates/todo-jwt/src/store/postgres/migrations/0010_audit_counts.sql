-- Attempts that name no account (failed logins for unknown emails, and such an email's lock)
-- are counted, not recorded one by one: one row per kind, client (the rate limit's bucket:
-- an IPv4 address or an IPv6 /64 by default) and window, so an unauthenticated flood adds
-- rows per client and minute, not per attempt.
CREATE TABLE audit_counts (
    kind         TEXT NOT NULL,
    client       TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    last_at      BIGINT NOT NULL,
    last_email   TEXT,
    PRIMARY KEY (kind, client, window_start)
);
CREATE INDEX audit_counts_window ON audit_counts (window_start);
