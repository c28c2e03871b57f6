-- Each user's number of todos, kept by triggers, so the per-user limit is checked in O(1)
-- when a todo is created (counting the rows made every insert cost as much as the user's list).
-- The insert locks the owner's row (`FOR UPDATE`) before it checks the count, so concurrent
-- inserts for one user are serialised and the limit is exact.
ALTER TABLE users ADD COLUMN todo_count BIGINT NOT NULL DEFAULT 0;
UPDATE users SET todo_count = (SELECT count(*) FROM todos WHERE todos.owner_id = users.id);

CREATE FUNCTION todos_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE users SET todo_count = todo_count + 1 WHERE id = NEW.owner_id;
    ELSE
        UPDATE users SET todo_count = todo_count - 1 WHERE id = OLD.owner_id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER todos_counted AFTER INSERT OR DELETE ON todos
FOR EACH ROW EXECUTE FUNCTION todos_count_rows();
