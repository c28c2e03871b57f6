-- Versions for conditional requests (ETag, If-None-Match, If-Match). Each todo has its own,
-- raised by every statement that changes it (`version = version + 1` in the UPDATE), and each
-- user has one for the whole list, raised here by triggers on any insert, update or delete of
-- their todos: a list's tag is derived from it, and a 304 reads it alone. SQLite has one
-- writer, so the triggers' increments are exact.
ALTER TABLE todos ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN todos_version INTEGER NOT NULL DEFAULT 0;

DROP TRIGGER IF EXISTS todos_counted_insert;
DROP TRIGGER IF EXISTS todos_counted_delete;

CREATE TRIGGER todos_counted_insert AFTER INSERT ON todos
BEGIN
    UPDATE users SET todo_count = todo_count + 1, todos_version = todos_version + 1
    WHERE id = NEW.owner_id;
END;

CREATE TRIGGER todos_counted_delete AFTER DELETE ON todos
BEGIN
    UPDATE users SET todo_count = todo_count - 1, todos_version = todos_version + 1
    WHERE id = OLD.owner_id;
END;

CREATE TRIGGER todos_versioned_update AFTER UPDATE ON todos
BEGIN
    UPDATE users SET todos_version = todos_version + 1 WHERE id = NEW.owner_id;
END;
