-- Every authentication and session event, for the user's own history and for operators.
-- No foreign key to users: the record of a deleted account stays until retention removes it.
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    event TEXT NOT NULL,
    user_id TEXT,
    email TEXT,
    ip TEXT,
    user_agent TEXT,
    request_id TEXT,
    session_id TEXT
);
CREATE INDEX audit_events_user ON audit_events (user_id, id);
CREATE INDEX audit_events_at ON audit_events (at);
