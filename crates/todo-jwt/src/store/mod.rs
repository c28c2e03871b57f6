//! Storage behind repository traits, so handlers and services never see SQL.
//!
//! `sqlite` is the embedded default. Reads run inline on the calling task (a prepared-statement
//! lookup takes microseconds, less than a hop to another thread); writes, which may wait for
//! SQLite's single writer lock, run on the blocking pool.

mod sqlite;

pub use sqlite::SqliteStore;

/// A stored account, without its password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// UUID v4, as text.
    pub id: String,
    /// The email as the user wrote it.
    pub email: String,
    /// An optional display name.
    pub username: Option<String>,
    /// LoopBack's optional `realm`.
    pub realm: Option<String>,
}

/// An account to create.
#[derive(Debug, Clone)]
pub struct NewUserRecord {
    /// The user as it will be stored.
    pub user: User,
    /// The PHC-format password hash.
    pub password_hash: String,
}

/// A user with the hash to check a password against.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The account.
    pub user: User,
    /// The PHC-format password hash.
    pub password_hash: String,
}

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (an email already registered).
    #[error("conflict with a stored record")]
    Conflict,
    /// The database failed; the text is for the log.
    #[error("database error: {0}")]
    Backend(String),
}

impl From<StoreError> for crate::error::ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict => {
                Self::Conflict("The request conflicts with a stored record.".into())
            }
            StoreError::Backend(cause) => Self::Internal(cause),
        }
    }
}

/// Accounts.
#[async_trait::async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Stores a new user; [`StoreError::Conflict`] when the email (in any case) is taken.
    async fn insert_user(&self, record: NewUserRecord) -> Result<User, StoreError>;
    /// The user with this id.
    async fn find_user(&self, id: &str) -> Result<Option<User>, StoreError>;
    /// The credentials of the user with this email, compared case-insensitively.
    async fn find_credentials(&self, email: &str) -> Result<Option<Credentials>, StoreError>;
}

/// The key emails are compared by.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}
