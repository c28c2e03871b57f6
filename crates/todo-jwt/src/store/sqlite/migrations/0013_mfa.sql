-- A second factor (issue 23): authenticator-app codes (TOTP, RFC 6238) and recovery codes.
-- The TOTP secret is sealed with a key derived from the service secret; `last_step` is the time
-- step of the last code accepted (a code is accepted once, on every instance); `activated_at`
-- is NULL while the enrolment waits for its first code; `failures` counts wrong app codes in a
-- row (a right code, app or recovery, clears it): past a cap only recovery codes work.
CREATE TABLE mfa_totp (
    user_id      TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret       BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    activated_at INTEGER,
    last_step    INTEGER,
    failures     INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Recovery codes, each usable once: only their SHA-256 is stored.
CREATE TABLE mfa_recovery_codes (
    hash    TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    used_at INTEGER
) STRICT;

CREATE INDEX mfa_recovery_codes_user ON mfa_recovery_codes (user_id);

-- The assurance level a session has reached: NULL (the account had no second factor at login),
-- 'aal1' (the password only; waiting for the second factor) or 'aal2'.
ALTER TABLE sessions ADD COLUMN aal TEXT;
