-- The list index no longer carries the texts: a B-tree entry must fit in a third of a page
-- (about 2.7 KB after compression), so a todo with a few kilobytes of ordinary text could not
-- be stored at all (SQLSTATE 54000). Lists now read the texts from the table.
DROP INDEX todos_owner_id;
CREATE INDEX todos_owner_id ON todos (owner_id, id);
