//! Table and column names: the one place the Rust code spells them (the migrations are the
//! other). Statements are built from these with sea-query, so a renamed column is one edit
//! here and one migration.

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

/// The column a filter field is stored in: the only way a client's property name reaches SQL.
pub fn todo_column(field: Field) -> &'static str {
    match field {
        Field::Id => todos::ID,
        Field::Title => todos::TITLE,
        Field::Desc => todos::DESCRIPTION,
        Field::IsComplete => todos::IS_COMPLETE,
    }
}
