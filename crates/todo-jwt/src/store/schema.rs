//! Table and column names of every table: the one place the Rust code spells them (the
//! migrations are the other). Every statement is built from these in [`sql`](super::sql), so a
//! renamed column is one edit here and one migration per engine.

use crate::filter::Field;

/// The `users` table: accounts and their password hashes.
pub mod users {
    /// The table.
    pub const TABLE: &str = "users";
    /// UUID v4, as text.
    pub const ID: &str = "id";
    /// The email as the user wrote it.
    pub const EMAIL: &str = "email";
    /// The email in lower case: unique, and what login looks up.
    pub const EMAIL_KEY: &str = "email_key";
    /// The optional display name.
    pub const USERNAME: &str = "username";
    /// LoopBack's optional `realm`.
    pub const REALM: &str = "realm";
    /// The PHC-format password hash.
    pub const PASSWORD_HASH: &str = "password_hash";
    /// When the account was created.
    pub const CREATED_AT: &str = "created_at";
    /// How many todos the user has: kept by triggers on `todos`, read by the per-user limit.
    pub const TODO_COUNT: &str = "todo_count";
    /// The version of the user's list of todos: raised by triggers on `todos` with every
    /// insert, update and delete of theirs; a list's entity tag is derived from it.
    pub const TODOS_VERSION: &str = "todos_version";
    /// When the address was proven (Unix seconds; NULL: not yet).
    pub const EMAIL_VERIFIED_AT: &str = "email_verified_at";
    /// What a [`crate::store::User`] is read from, in its field order.
    pub const USER: [&str; 4] = [ID, EMAIL, USERNAME, REALM];
}

/// The `todos` table.
pub mod todos {
    /// The table.
    pub const TABLE: &str = "todos";
    /// Increasing, never reused.
    pub const ID: &str = "id";
    /// The user who owns the todo: every statement is scoped by it.
    pub const OWNER_ID: &str = "owner_id";
    /// The title.
    pub const TITLE: &str = "title";
    /// `desc` in the API.
    pub const DESCRIPTION: &str = "description";
    /// `isComplete` in the API.
    pub const IS_COMPLETE: &str = "is_complete";
    /// The todo's version: random when created, raised by every statement that changes it; its
    /// entity tag is derived from it.
    pub const VERSION: &str = "version";
    /// What a todo is read from, in [`crate::filter::Field::ALL`] order.
    pub const TODO: [&str; 4] = [ID, TITLE, DESCRIPTION, IS_COMPLETE];
}

/// The `sessions` table: one row per login, until logout or expiry.
pub mod sessions {
    /// The table.
    pub const TABLE: &str = "sessions";
    /// UUID v4, as text: the access tokens' `sid`.
    pub const ID: &str = "id";
    /// The user it belongs to.
    pub const USER_ID: &str = "user_id";
    /// When it started (Unix seconds).
    pub const CREATED_AT: &str = "created_at";
    /// When it was last used to get a token (Unix seconds).
    pub const LAST_USED_AT: &str = "last_used_at";
    /// When it ends at the latest (Unix seconds).
    pub const EXPIRES_AT: &str = "expires_at";
    /// The client's `User-Agent` at login, if any.
    pub const USER_AGENT: &str = "user_agent";
    /// The client's address at login.
    pub const IP: &str = "ip";
    /// The assurance level reached (`aal1`, `aal2`; NULL: no second factor at login).
    pub const AAL: &str = "aal";
    /// What a [`crate::store::Session`] is read from, in its field order.
    pub const SESSION: [&str; 7] = [
        ID,
        USER_ID,
        CREATED_AT,
        LAST_USED_AT,
        EXPIRES_AT,
        USER_AGENT,
        IP,
    ];
}

/// The `refresh_tokens` table: each session's refresh tokens, by hash.
pub mod refresh_tokens {
    /// The table.
    pub const TABLE: &str = "refresh_tokens";
    /// The token's SHA-256, hex.
    pub const HASH: &str = "hash";
    /// The session it belongs to.
    pub const SESSION_ID: &str = "session_id";
    /// When it was issued (Unix seconds).
    pub const CREATED_AT: &str = "created_at";
    /// When it was spent by a rotation (Unix seconds); null while it is the current one.
    pub const SPENT_AT: &str = "spent_at";
    /// Its place in the session's chain: 0 for a login's, one more at each rotation.
    pub const ROTATION: &str = "rotation";
}

/// The `throttle` table: rate-limit counters shared by every instance.
pub mod throttle {
    /// The table.
    pub const TABLE: &str = "throttle";
    /// What is counted (`login:<email key>`, `ip:<address>`).
    pub const KEY: &str = "key";
    /// When the current window began (Unix seconds).
    pub const WINDOW_START: &str = "window_start";
    /// Hits within the window.
    pub const COUNT: &str = "count";
    /// When the window ends (Unix seconds).
    pub const EXPIRES_AT: &str = "expires_at";
}

/// The `audit_events` table: one row per authentication or session event.
pub mod audit_events {
    /// The table.
    pub const TABLE: &str = "audit_events";
    /// Increasing: the order events were written in.
    pub const ID: &str = "id";
    /// When (Unix seconds).
    pub const AT: &str = "at";
    /// What happened (`login`, `logout`, ...).
    pub const EVENT_NAME: &str = "event";
    /// Whose, when known.
    pub const USER_ID: &str = "user_id";
    /// The email given.
    pub const EMAIL: &str = "email";
    /// The client's address.
    pub const IP: &str = "ip";
    /// The client's `User-Agent`.
    pub const USER_AGENT: &str = "user_agent";
    /// The request's id.
    pub const REQUEST_ID: &str = "request_id";
    /// The session concerned.
    pub const SESSION_ID: &str = "session_id";
    /// What an [`crate::store::AuditRecord`] is read from, in its field order (the id first:
    /// an insert writes the others).
    pub const EVENT: [&str; 9] = [
        ID, AT, EVENT_NAME, USER_ID, EMAIL, IP, USER_AGENT, REQUEST_ID, SESSION_ID,
    ];
}

/// The `audit_counts` table: attempts that name no account, counted per kind, client and
/// window rather than recorded one by one.
pub mod audit_counts {
    /// The table.
    pub const TABLE: &str = "audit_counts";
    /// What is counted (`login_failed`, `throttled`).
    pub const KIND: &str = "kind";
    /// The client's rate-limit bucket (`ip:192.0.2.1/32`, `ip:2001:db8::/64`).
    pub const CLIENT: &str = "client";
    /// When the window began (Unix seconds).
    pub const WINDOW_START: &str = "window_start";
    /// Attempts within the window.
    pub const COUNT: &str = "count";
    /// When the last one came (Unix seconds).
    pub const LAST_AT: &str = "last_at";
    /// The email the last one gave.
    pub const LAST_EMAIL: &str = "last_email";
}

/// The `signing_keys` table: the keys access tokens are signed with.
pub mod signing_keys {
    /// The table.
    pub const TABLE: &str = "signing_keys";
    /// The key's id.
    pub const KID: &str = "kid";
    /// Its place in the order keys were added (unique).
    pub const GENERATION: &str = "generation";
    /// `EdDSA` or `HS256`.
    pub const ALGORITHM: &str = "algorithm";
    /// The Ed25519 public key, if any.
    pub const PUBLIC_KEY: &str = "public_key";
    /// The Ed25519 private seed, sealed, if any.
    pub const SEALED_PRIVATE_KEY: &str = "sealed_private_key";
    /// When it was added (Unix seconds).
    pub const CREATED_AT: &str = "created_at";
    /// From when it signs (Unix seconds).
    pub const SIGNS_FROM: &str = "signs_from";
    /// What a [`crate::store::KeyRecord`] is read from and written as, in its field order.
    pub const KEY: [&str; 7] = [
        KID,
        GENERATION,
        ALGORITHM,
        PUBLIC_KEY,
        SEALED_PRIVATE_KEY,
        CREATED_AT,
        SIGNS_FROM,
    ];
}

/// The `email_tokens` table: single-use tokens sent by mail, stored only as their hash.
pub mod email_tokens {
    /// The table.
    pub const TABLE: &str = "email_tokens";
    /// The token's SHA-256, hex.
    pub const HASH: &str = "hash";
    /// The account it acts on.
    pub const USER_ID: &str = "user_id";
    /// What it proves (`verify-email`, ...).
    pub const PURPOSE: &str = "purpose";
    /// When it was made (Unix seconds).
    pub const CREATED_AT: &str = "created_at";
    /// When it stops working (Unix seconds).
    pub const EXPIRES_AT: &str = "expires_at";
    /// When it was used (Unix seconds; NULL: not yet).
    pub const USED_AT: &str = "used_at";
    /// The address a `change-email` token moves the account to (NULL for other purposes).
    pub const NEW_EMAIL: &str = "new_email";
    /// The account's email key when it was issued: it works only while the account has it.
    pub const ACCOUNT_KEY: &str = "account_key";
}

/// The `outbox` table: messages to send, written with the change that causes them.
pub mod outbox {
    /// The table.
    pub const TABLE: &str = "outbox";
    /// Increasing.
    pub const ID: &str = "id";
    /// The address it goes to.
    pub const RECIPIENT: &str = "recipient";
    /// Its subject.
    pub const SUBJECT: &str = "subject";
    /// Its text (emptied once sent).
    pub const BODY: &str = "body";
    /// When it was written (Unix seconds).
    pub const CREATED_AT: &str = "created_at";
    /// Failed attempts so far.
    pub const ATTEMPTS: &str = "attempts";
    /// When it may be tried (again): after a failure, the backoff; while claimed, the claim's end.
    pub const NEXT_ATTEMPT_AT: &str = "next_attempt_at";
    /// When it was sent (Unix seconds).
    pub const SENT_AT: &str = "sent_at";
    /// When it was given up on, after its last attempt (Unix seconds).
    pub const FAILED_AT: &str = "failed_at";
    /// Why the last attempt failed.
    pub const LAST_ERROR: &str = "last_error";
    /// What a [`crate::store::OutboxMessage`] is read from, in its field order.
    pub const MESSAGE: [&str; 5] = [ID, RECIPIENT, SUBJECT, BODY, ATTEMPTS];
}

/// The column a filter field is stored in: the only way a client's property name reaches SQL.
pub fn todo_column(field: Field) -> &'static str {
    match field {
        Field::Id => todos::ID,
        Field::Title => todos::TITLE,
        Field::Desc => todos::DESCRIPTION,
        Field::IsComplete => todos::IS_COMPLETE,
    }
}

/// The `mfa_totp` table: each account's authenticator-app factor.
pub mod mfa_totp {
    /// The table.
    pub const TABLE: &str = "mfa_totp";
    /// The account.
    pub const USER_ID: &str = "user_id";
    /// The secret, sealed.
    pub const SECRET: &str = "secret";
    /// When the enrolment started (Unix seconds).
    pub const CREATED_AT: &str = "created_at";
    /// When its first code was accepted (NULL: waiting for it).
    pub const ACTIVATED_AT: &str = "activated_at";
    /// The time step of the last code accepted.
    pub const LAST_STEP: &str = "last_step";
    /// Wrong app codes in a row.
    pub const FAILURES: &str = "failures";
}

/// The `mfa_recovery_codes` table: each account's recovery codes, by hash.
pub mod mfa_recovery_codes {
    /// The table.
    pub const TABLE: &str = "mfa_recovery_codes";
    /// The code's SHA-256, hex.
    pub const HASH: &str = "hash";
    /// The account.
    pub const USER_ID: &str = "user_id";
    /// When it was used (NULL: not yet).
    pub const USED_AT: &str = "used_at";
}
