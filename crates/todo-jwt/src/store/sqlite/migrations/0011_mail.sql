-- Mail (issue 22). When an account's address was proven (Unix seconds; NULL: not yet).
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;

-- Single-use tokens sent by mail (address verification, ...): only their SHA-256 is stored.
CREATE TABLE email_tokens (
    hash       TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;

-- One token per account and purpose: a new one replaces the old (only the newest is valid).
CREATE UNIQUE INDEX email_tokens_user ON email_tokens (user_id, purpose);

-- Messages to send, written in the transaction of the change that causes them; the sender
-- claims due ones for a while (next_attempt_at moves past the claim), sends, and marks them sent
-- (the body, which may hold a token, is then emptied) or failed after its last attempt.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    sent_at         INTEGER,
    failed_at       INTEGER,
    last_error      TEXT
) STRICT;

CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
