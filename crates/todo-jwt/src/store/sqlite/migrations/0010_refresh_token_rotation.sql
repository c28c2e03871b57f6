-- Each refresh token's place in its session's chain (0 for a login's): a rotation removes the
-- session's spent tokens beyond the few reuse detection follows, so a session keeps a bounded
-- number of rows however often it refreshes. Tokens from before count as the first.
ALTER TABLE refresh_tokens ADD COLUMN rotation INTEGER NOT NULL DEFAULT 0;
