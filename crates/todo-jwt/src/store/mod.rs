//! Storage behind repository traits, so handlers and services never see SQL.
//!
//! `sqlite` is the embedded default; `postgres` serves several instances from one database.
//! SQLite reads run inline on the calling task (a prepared-statement lookup takes microseconds,
//! less than a hop to another thread); writes, which may wait for SQLite's single writer lock,
//! run on the blocking pool.

mod postgres;
mod sqlite;

pub use postgres::{ConnectError, PostgresStore};
pub use sqlite::SqliteStore;

use crate::filter::{Condition, Filter};

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

/// A stored todo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Todo {
    /// Increasing, never reused.
    pub id: i64,
    /// Never empty.
    pub title: String,
    /// Absent when not given.
    pub desc: Option<String>,
    /// Absent when not given.
    pub is_complete: Option<bool>,
}

/// A todo borrowed from wherever it is read (a database row), so a list can be written out
/// without copying every string first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TodoRef<'a> {
    /// The id.
    pub id: i64,
    /// The title.
    pub title: &'a str,
    /// The description, if any.
    pub desc: Option<&'a str>,
    /// Whether it is done, if said.
    pub is_complete: Option<bool>,
}

impl Todo {
    /// This todo, borrowed.
    pub fn as_ref(&self) -> TodoRef<'_> {
        TodoRef {
            id: self.id,
            title: &self.title,
            desc: self.desc.as_deref(),
            is_complete: self.is_complete,
        }
    }
}

impl TodoRef<'_> {
    /// An owned copy.
    pub fn to_owned(self) -> Todo {
        Todo {
            id: self.id,
            title: self.title.to_owned(),
            desc: self.desc.map(str::to_owned),
            is_complete: self.is_complete,
        }
    }
}

/// The content of a new or replaced todo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TodoFields {
    /// The title.
    pub title: String,
    /// The description, if any.
    pub desc: Option<String>,
    /// Whether it is done, if said.
    pub is_complete: Option<bool>,
}

/// What a patch changes: `None` leaves a column alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TodoChanges {
    /// A new title.
    pub title: Option<String>,
    /// A new description, or its removal.
    pub desc: Option<Option<String>>,
    /// A new completion flag, or its removal.
    pub is_complete: Option<Option<bool>>,
}

impl TodoChanges {
    /// A change that replaces every column with `fields` (PUT semantics).
    pub fn replace_with(fields: TodoFields) -> Self {
        Self {
            title: Some(fields.title),
            desc: Some(fields.desc),
            is_complete: Some(fields.is_complete),
        }
    }

    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.desc.is_none() && self.is_complete.is_none()
    }

    /// The `(column, value)` pairs to set.
    pub fn columns(self) -> crate::filter::sql::Changes {
        use sea_query::Value;
        let mut columns = Vec::new();
        if let Some(title) = self.title {
            columns.push(("title", Value::String(Some(title))));
        }
        if let Some(desc) = self.desc {
            columns.push(("description", Value::String(desc)));
        }
        if let Some(is_complete) = self.is_complete {
            columns.push(("is_complete", Value::Bool(is_complete)));
        }
        columns
    }
}

/// Todos, always within one owner's set: another user's todo is as good as absent.
#[async_trait::async_trait]
pub trait TodoStore: Send + Sync + 'static {
    /// Stores a new todo for `owner`.
    async fn create_todo(&self, owner: &str, todo: TodoFields) -> Result<Todo, StoreError>;
    /// Calls `visit` with each of the owner's todos that `filter` selects, in its order. This
    /// is the list path: the caller serialises as rows arrive, and nothing is copied.
    async fn visit_todos(
        &self,
        owner: &str,
        filter: &Filter,
        visit: &mut (dyn for<'a> FnMut(TodoRef<'a>) + Send),
    ) -> Result<(), StoreError>;

    /// The owner's todos that `filter` selects, in its order.
    async fn find_todos(&self, owner: &str, filter: &Filter) -> Result<Vec<Todo>, StoreError> {
        let mut todos = Vec::new();
        self.visit_todos(owner, filter, &mut |todo| todos.push(todo.to_owned()))
            .await?;
        Ok(todos)
    }
    /// How many of the owner's todos match `where_`.
    async fn count_todos(&self, owner: &str, where_: Option<&Condition>)
    -> Result<u64, StoreError>;
    /// Applies `changes` to the owner's todos matching `where_`; returns how many matched.
    async fn update_todos(
        &self,
        owner: &str,
        where_: Option<&Condition>,
        changes: TodoChanges,
    ) -> Result<u64, StoreError>;
    /// Deletes the owner's todo `id`; whether it existed.
    async fn delete_todo(&self, owner: &str, id: i64) -> Result<bool, StoreError>;
}

/// The key emails are compared by.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}
