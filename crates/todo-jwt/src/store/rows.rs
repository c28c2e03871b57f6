//! What each statement's rows hold, read the same way on both engines: one mapping per record
//! ([`FromRow`]), over any row that can give its columns ([`Columns`], implemented for
//! rusqlite's and tokio-postgres' rows). Columns are read by position, in the order the
//! statements in [`sql`](super::sql) select them.

use super::{
    AuditRecord, Counter, KeyRecord, OutboxMessage, RefreshRecord, Session, Todo, TodoRef,
    TotpRecord, UsedToken, User, UserRecord,
};

/// A value both drivers can read from a column.
pub(super) trait Column:
    rusqlite::types::FromSql + for<'a> tokio_postgres::types::FromSql<'a>
{
}

impl<T> Column for T where T: rusqlite::types::FromSql + for<'a> tokio_postgres::types::FromSql<'a> {}

/// A row whose columns can be read by position.
pub(super) trait Columns {
    /// The driver's error.
    type Error;
    /// Column `index`.
    fn get<T: Column>(&self, index: usize) -> Result<T, Self::Error>;
    /// Column `index` as borrowed text (no copy), `None` for NULL.
    fn text(&self, index: usize) -> Result<Option<&str>, Self::Error>;
}

/// A record read from a row.
pub(super) trait FromRow: Sized + Send + 'static {
    /// The record in `row`.
    fn from_row<R: Columns>(row: &R) -> Result<Self, R::Error>;
}

/// A todo borrowed from its row: the list path's mapping.
pub(super) fn todo_ref<R: Columns>(row: &R) -> Result<TodoRef<'_>, R::Error> {
    Ok(TodoRef {
        id: row.get(0)?,
        title: row.text(1)?.unwrap_or_default(),
        desc: row.text(2)?,
        is_complete: row.get(3)?,
    })
}

impl FromRow for Todo {
    fn from_row<R: Columns>(row: &R) -> Result<Self, R::Error> {
        todo_ref(row).map(Self::from)
    }
}

/// A todo and its version (the column after the todo's).
impl FromRow for (Todo, i64) {
    fn from_row<R: Columns>(row: &R) -> Result<Self, R::Error> {
        Ok((Todo::from_row(row)?, row.get(4)?))
    }
}

/// A single integer: an id, a count.
impl FromRow for i64 {
    fn from_row<R: Columns>(row: &R) -> Result<Self, R::Error> {
        row.get(0)
    }
}

/// A single text: a todo's owner.
impl FromRow for String {
    fn from_row<R: Columns>(row: &R) -> Result<Self, R::Error> {
        row.get(0)
    }
}

/// From [`users::USER`](super::schema::users::USER)'s columns, at `first`.
fn user_at<R: Columns>(row: &R, first: usize) -> Result<User, R::Error> {
    Ok(User {
        id: row.get(first)?,
        email: row.get(first + 1)?,
        username: row.get(first + 2)?,
        realm: row.get(first + 3)?,
    })
}

impl FromRow for User {
    fn from_row<R: Columns>(row: &R) -> Result<Self, R::Error> {
        user_at(row, 0)
    }
}

/// The user's columns, then the hash.
impl FromRow for UserRecord {
    fn from_row<R: Columns>(row: &R) -> Result<Self, R::Error> {
        Ok(Self {
            user: user_at(row, 0)?,
            password_hash: row.get(4)?,
        })
    }
}

/// The session id and spent_at, then the user's columns.
impl FromRow for RefreshRecord {
    fn from_row<R: Columns>(row: &R) -> Result<Self, R::Error> {
        Ok(Self {
            session_id: row.get(0)?,
            spent_at: row.get(1)?,
            rotation: row.get(2)?,
            user: user_at(row, 3)?,
        })
    }
}

impl FromRow for Session {
    fn from_row<R: Columns>(row: &R) -> Result<Self, R::Error> {
        Ok(Self {
            id: row.get(0)?,
            user_id: row.get(1)?,
            created_at: row.get(2)?,
            last_used_at: row.get(3)?,
            expires_at: row.get(4)?,
            user_agent: row.get(5)?,
            ip: row.get(6)?,
        })
    }
}

impl FromRow for Counter {
    fn from_row<R: Columns>(row: &R) -> Result<Self, R::Error> {
        Ok(Self {
            count: row.get(0)?,
            expires_at: row.get(1)?,
        })
    }
}

impl FromRow for AuditRecord {
    fn from_row<R: Columns>(row: &R) -> Result<Self, R::Error> {
        Ok(Self {
            id: row.get(0)?,
            at: row.get(1)?,
            event: row.get(2)?,
            user_id: row.get(3)?,
            email: row.get(4)?,
            ip: row.get(5)?,
            user_agent: row.get(6)?,
            request_id: row.get(7)?,
            session_id: row.get(8)?,
        })
    }
}

impl FromRow for KeyRecord {
    fn from_row<R: Columns>(row: &R) -> Result<Self, R::Error> {
        Ok(Self {
            kid: row.get(0)?,
            generation: row.get(1)?,
            algorithm: row.get(2)?,
            public_key: row.get(3)?,
            sealed_private_key: row.get(4)?,
            created_at: row.get(5)?,
            signs_from: row.get(6)?,
        })
    }
}

impl FromRow for OutboxMessage {
    fn from_row<R: Columns>(row: &R) -> Result<Self, R::Error> {
        Ok(Self {
            id: row.get(0)?,
            recipient: row.get(1)?,
            subject: row.get(2)?,
            body: row.get(3)?,
            attempts: row.get(4)?,
        })
    }
}

impl FromRow for UsedToken {
    fn from_row<R: Columns>(row: &R) -> Result<Self, R::Error> {
        Ok(Self {
            user_id: row.get(0)?,
            new_email: row.get(1)?,
        })
    }
}

impl FromRow for TotpRecord {
    fn from_row<R: Columns>(row: &R) -> Result<Self, R::Error> {
        Ok(Self {
            secret: row.get(0)?,
            activated_at: row.get(1)?,
            last_step: row.get(2)?,
            failures: row.get(3)?,
        })
    }
}

impl FromRow for Option<String> {
    fn from_row<R: Columns>(row: &R) -> Result<Self, R::Error> {
        row.get(0)
    }
}

impl FromRow for Option<i64> {
    fn from_row<R: Columns>(row: &R) -> Result<Self, R::Error> {
        row.get(0)
    }
}
