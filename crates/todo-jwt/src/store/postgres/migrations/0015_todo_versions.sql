-- Versions for conditional requests (ETag, If-None-Match, If-Match). Each todo has its own,
-- raised by every statement that changes it (the service's UPDATE raises it itself; a trigger
-- raises it for any other UPDATE), and each user has one for the whole list, raised by
-- triggers on any insert, update or delete of their todos in the same transaction: a list's
-- tag is derived from it, and a 304 reads it alone. Every todo write locks the owner's row
-- before it touches a todo (the insert's `FOR NO KEY UPDATE`, and a locking sub-select in
-- updates and deletes), so writers of one user are serialised in one order and the triggers'
-- updates of that row cannot deadlock.
--
-- Each step is random (1 to 2^32): a database restored from a backup (or a replica promoted
-- after losing commits), whose versions went back, takes other numbers from then on than the
-- history it replaced, so a tag of that history never names a version of the new one.
ALTER TABLE todos ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN todos_version BIGINT NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION todos_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE users SET todo_count = todo_count + 1,
            todos_version = todos_version + 1 + floor(random() * 4294967296)::bigint
        WHERE id = NEW.owner_id;
    ELSE
        UPDATE users SET todo_count = todo_count - 1,
            todos_version = todos_version + 1 + floor(random() * 4294967296)::bigint
        WHERE id = OLD.owner_id;
    END IF;
    RETURN NULL;
END;
$$;

-- Once per statement, not per row: a bulk PATCH of a thousand todos raises the owner's
-- version once, instead of writing their row a thousand times.
CREATE FUNCTION todos_version_owners() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users SET todos_version = todos_version + 1 + floor(random() * 4294967296)::bigint
    WHERE id IN (SELECT DISTINCT owner_id FROM changed);
    RETURN NULL;
END;
$$;

CREATE TRIGGER todos_versioned AFTER UPDATE ON todos
REFERENCING NEW TABLE AS changed
FOR EACH STATEMENT EXECUTE FUNCTION todos_version_owners();

-- An UPDATE that left the todo's version alone (not the service's) raises it here.
CREATE FUNCTION todos_version_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.version = OLD.version THEN
        NEW.version := OLD.version + 1 + floor(random() * 4294967296)::bigint;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER todos_versioned_row BEFORE UPDATE ON todos
FOR EACH ROW EXECUTE FUNCTION todos_version_row();
