-- The keys access tokens are signed with, one row a key, in the order they were added
-- (generation). An Ed25519 key keeps its public half and its private seed sealed
-- (ChaCha20-Poly1305 under a key derived from the service secret); an HS256 row holds nothing:
-- its key is the service secret. A key signs from signs_from until a later one does, and is
-- removed once the tokens it signed have expired.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    generation INTEGER NOT NULL UNIQUE,
    algorithm TEXT NOT NULL,
    public_key BLOB,
    sealed_private_key BLOB,
    created_at INTEGER NOT NULL,
    signs_from INTEGER NOT NULL
);
-- An installation from before this table has users whose clients hold HS256 tokens signed with
-- the secret: it keeps signing HS256 (a new one starts with an Ed25519 key).
INSERT INTO signing_keys (kid, generation, algorithm, created_at, signs_from)
SELECT 'hs256-1', 1, 'HS256', CAST(strftime('%s', 'now') AS INTEGER), 0
WHERE EXISTS (SELECT 1 FROM users);
