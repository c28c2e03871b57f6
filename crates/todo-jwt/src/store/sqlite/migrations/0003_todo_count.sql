-- Each user's number of todos, kept by triggers, so the per-user limit is checked in O(1)
-- when a todo is created (counting the rows made every insert cost as much as the user's list).
ALTER TABLE users ADD COLUMN todo_count INTEGER NOT NULL DEFAULT 0;
UPDATE users SET todo_count = (SELECT count(*) FROM todos WHERE todos.owner_id = users.id);

CREATE TRIGGER todos_counted_insert AFTER INSERT ON todos
BEGIN
    UPDATE users SET todo_count = todo_count + 1 WHERE id = NEW.owner_id;
END;

CREATE TRIGGER todos_counted_delete AFTER DELETE ON todos
BEGIN
    UPDATE users SET todo_count = todo_count - 1 WHERE id = OLD.owner_id;
END;
