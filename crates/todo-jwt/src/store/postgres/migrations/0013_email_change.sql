-- Changing an account's address (issue 22): the address a `change-email` token moves the account
-- to, once its owner proves it (NULL for the other purposes).
ALTER TABLE email_tokens ADD COLUMN new_email TEXT;
