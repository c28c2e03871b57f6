-- Mail (issue 22). When an account's address was proven (Unix seconds; NULL: not yet).
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;

-- Single-use tokens sent by mail (address verification, ...): only their SHA-256 is stored.
CREATE TABLE email_tokens (
    hash       TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

-- One token per account and purpose: a new one replaces the old (only the newest is valid).
CREATE UNIQUE INDEX email_tokens_user ON email_tokens (user_id, purpose);

-- Messages to send, written in the transaction of the change that causes them; a sender claims
-- due ones for a while (next_attempt_at moves past the claim; instances skip each other's locked
-- rows), sends, and marks them sent (the body, which may hold a token, is then emptied) or
-- failed after its last attempt.
CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    sent_at         BIGINT,
    failed_at       BIGINT,
    last_error      TEXT
);

CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
