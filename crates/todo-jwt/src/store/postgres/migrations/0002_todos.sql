-- Todos, each owned by a user; deleting the user deletes their todos. Identity ids only grow
-- and are never handed out twice. Text uses the "C" collation: byte order, as in SQLite, so
-- `order` and `gt`/`lt` answer the same on both engines.
CREATE TABLE todos (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       TEXT COLLATE "C" NOT NULL CHECK (title <> ''),
    description TEXT COLLATE "C",
    is_complete BOOLEAN
);

-- Every statement is scoped to one owner; lists are read from the index alone, in id order.
CREATE INDEX todos_owner_id ON todos (owner_id, id) INCLUDE (title, description, is_complete);
