//! What the repositories store and return.

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

/// An account with its password hash: what signup stores and login checks against.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// The account.
    pub user: User,
    /// The PHC-format password hash.
    pub password_hash: String,
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

impl<'a> From<&'a Todo> for TodoRef<'a> {
    fn from(todo: &'a Todo) -> Self {
        Self {
            id: todo.id,
            title: &todo.title,
            desc: todo.desc.as_deref(),
            is_complete: todo.is_complete,
        }
    }
}

impl From<TodoRef<'_>> for Todo {
    fn from(todo: TodoRef<'_>) -> Self {
        Self {
            id: todo.id,
            title: todo.title.to_owned(),
            desc: todo.desc.map(str::to_owned),
            is_complete: todo.is_complete,
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

impl TodoFields {
    /// The stored todo these fields became, with its new id.
    pub fn with_id(self, id: i64) -> Todo {
        Todo {
            id,
            title: self.title,
            desc: self.desc,
            is_complete: self.is_complete,
        }
    }
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
}

/// The versions a conditional write accepts (RFC 9110's `If-Match` and `If-None-Match`, their
/// entity tags reduced to the versions they name): of one todo, or of a user's list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Versions {
    /// The version must be one of these (`None`: any; empty: none can match).
    pub one_of: Option<Vec<i64>>,
    /// The version must be none of these.
    pub none_of: Vec<i64>,
}

impl Versions {
    /// Whether any version will do: an unconditional write.
    pub fn is_any(&self) -> bool {
        self.one_of.is_none() && self.none_of.is_empty()
    }

    /// Whether `version` passes.
    pub fn accepts(&self, version: i64) -> bool {
        self.one_of
            .as_ref()
            .is_none_or(|one_of| one_of.contains(&version))
            && !self.none_of.contains(&version)
    }
}

/// What a write of one todo found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Written (or, for a change of nothing, found and left alone): its version now.
    Done(i64),
    /// The owner has no such todo.
    Missing,
    /// The todo is at a version the write did not accept: nothing was changed.
    Stale(i64),
}

impl crate::filter::eval::Fields for Todo {
    fn value(&self, field: crate::filter::Field) -> Option<crate::filter::Scalar> {
        use crate::filter::{Field, Scalar};
        match field {
            Field::Id => Some(Scalar::Int(self.id)),
            Field::Title => Some(Scalar::Text(self.title.clone())),
            Field::Desc => self.desc.clone().map(Scalar::Text),
            Field::IsComplete => self.is_complete.map(Scalar::Bool),
        }
    }
}
