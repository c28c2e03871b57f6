-- Versions for conditional requests (ETag, If-None-Match, If-Match). Each todo has its own,
-- raised by every statement that changes it (the service's UPDATE raises it itself, so that
-- `RETURNING` reports it; a trigger raises it for any other UPDATE), and each user has one for
-- the whole list, raised by triggers on any insert, update or delete of their todos: a list's
-- tag is derived from it, and a 304 reads it alone. SQLite has one writer, so the increments
-- are exact.
--
-- Each step is random (1 to 2^32): a database restored from a backup, whose versions went back,
-- takes other numbers from then on than the history it replaced, so a tag of that history
-- never names a version of the new one.
ALTER TABLE todos ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN todos_version INTEGER NOT NULL DEFAULT 0;

DROP TRIGGER IF EXISTS todos_counted_insert;
DROP TRIGGER IF EXISTS todos_counted_delete;

CREATE TRIGGER todos_counted_insert AFTER INSERT ON todos
BEGIN
    UPDATE users SET todo_count = todo_count + 1,
        todos_version = todos_version + 1 + abs(random() % 4294967296)
    WHERE id = NEW.owner_id;
END;

CREATE TRIGGER todos_counted_delete AFTER DELETE ON todos
BEGIN
    UPDATE users SET todo_count = todo_count - 1,
        todos_version = todos_version + 1 + abs(random() % 4294967296)
    WHERE id = OLD.owner_id;
END;

CREATE TRIGGER todos_versioned_update AFTER UPDATE ON todos
BEGIN
    UPDATE users SET todos_version = todos_version + 1 + abs(random() % 4294967296)
    WHERE id = NEW.owner_id;
END;

-- An UPDATE that left the todo's version alone (not the service's) raises it here.
CREATE TRIGGER todos_versioned_row AFTER UPDATE ON todos WHEN NEW.version = OLD.version
BEGIN
    UPDATE todos SET version = OLD.version + 1 + abs(random() % 4294967296) WHERE id = NEW.id;
END;
