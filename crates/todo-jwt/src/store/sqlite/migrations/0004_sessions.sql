-- Sessions: every login starts one; access tokens carry its id (`sid`), and a token whose
-- session is gone (logout, logout-all, an ended account) is refused. Times are Unix seconds.
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    user_agent   TEXT,
    ip           TEXT
) STRICT;

CREATE INDEX sessions_user_id ON sessions (user_id);
-- The cleanup of expired sessions.
CREATE INDEX sessions_expires_at ON sessions (expires_at);
