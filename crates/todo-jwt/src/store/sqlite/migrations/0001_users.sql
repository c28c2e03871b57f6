-- Accounts. `email_key` is the email in lower case: uniqueness and login are case-insensitive,
-- while `email` keeps the spelling the user chose.
CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL,
    email_key     TEXT NOT NULL UNIQUE,
    username      TEXT,
    realm         TEXT,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;
