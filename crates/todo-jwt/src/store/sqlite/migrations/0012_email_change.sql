-- Changing an account's address (issue 22). `new_email`: the address a `change-email` token moves
-- the account to, once its owner proves it (NULL for the other purposes). `account_key`: the
-- account's email key when the token was issued; a token works only while the account still
-- has that address (NULL for tokens issued before this migration).
ALTER TABLE email_tokens ADD COLUMN new_email TEXT;
ALTER TABLE email_tokens ADD COLUMN account_key TEXT;
