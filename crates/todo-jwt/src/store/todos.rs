//! The todos repository: every statement within one owner's set, so another user's todo is as
//! good as absent.

use std::ops::ControlFlow;

use super::{
    StoreError, Todo, TodoChanges, TodoFields, TodoRef, Versions, Written,
    run::{Run, Statement},
    sql::todos as sql,
};
use crate::filter::{Condition, Filter};

/// Called with each todo a list selects, borrowed from the row; `Break` stops the list there
/// (no further row is read: a response that has run out of memory does not read the rest).
pub type Visitor<'v> = dyn for<'a> FnMut(TodoRef<'a>) -> ControlFlow<()> + Send + 'v;

/// The statements each engine implements for [`Todos`].
#[async_trait::async_trait]
pub trait TodoStatements: Send + Sync {
    /// Inserts a todo for `owner` if they have fewer than `limit`; the todo with its new id
    /// and its first version, or `None` at the limit.
    async fn insert_todo(
        &self,
        owner: &str,
        todo: TodoFields,
        limit: u64,
    ) -> Result<Option<(Todo, i64)>, StoreError>;
    /// Calls `visit` with each of the owner's todos `filter` selects, in its order, until it
    /// breaks.
    async fn visit_todos(
        &self,
        owner: &str,
        filter: &Filter,
        visit: &mut Visitor<'_>,
    ) -> Result<(), StoreError>;
    /// How many of the owner's todos match `where_`.
    async fn count_todos(&self, owner: &str, where_: Option<&Condition>)
    -> Result<u64, StoreError>;
    /// Applies non-empty `changes` to the owner's todos matching `where_`; how many matched.
    async fn update_todos(
        &self,
        owner: &str,
        where_: Option<&Condition>,
        changes: TodoChanges,
    ) -> Result<u64, StoreError>;
    /// Deletes the owner's todo `id`; how many rows went (0 or 1).
    async fn delete_todo(&self, owner: &str, id: i64) -> Result<u64, StoreError>;
    /// Applies non-empty `changes` to the owner's todo `id` if `versions` accepts its version;
    /// its new version, or `None` when nothing was written.
    async fn update_todo(
        &self,
        owner: &str,
        id: i64,
        changes: TodoChanges,
        versions: &Versions,
    ) -> Result<Option<i64>, StoreError>;
    /// Deletes the owner's todo `id` if `versions` accepts its version; how many rows went.
    async fn delete_todo_at(
        &self,
        owner: &str,
        id: i64,
        versions: &Versions,
    ) -> Result<u64, StoreError>;
    /// The version of the owner's todo `id`.
    async fn todo_version(&self, owner: &str, id: i64) -> Result<Option<i64>, StoreError>;
    /// The owner's todo `id` with its version.
    async fn find_todo(&self, owner: &str, id: i64) -> Result<Option<(Todo, i64)>, StoreError>;
    /// The version of the owner's list (`None`: no such user); with `lock`, the owner's row
    /// stays locked until the transaction ends (PostgreSQL).
    async fn list_version(&self, owner: &str, lock: bool) -> Result<Option<i64>, StoreError>;
    /// Who owns todo `id`, whoever it is.
    async fn todo_owner(&self, id: i64) -> Result<Option<String>, StoreError>;
    /// Inserts `todos` for `owner` with their own ids, in order, each only while the owner
    /// has fewer than `limit`; how many were inserted (it stops at the limit). Ids generated
    /// afterwards are larger than any inserted.
    async fn insert_todos_with_ids(
        &self,
        owner: &str,
        todos: Vec<Todo>,
        limit: u64,
    ) -> Result<usize, StoreError>;
}

/// Todos, on the store or inside a transaction.
#[derive(Clone, Copy)]
pub struct Todos<'a>(pub(super) &'a dyn TodoStatements);

impl Todos<'_> {
    /// Stores a new todo for `owner`, unless they already have `limit` todos
    /// ([`StoreError::LimitReached`]). The check is exact on both engines, under concurrency
    /// too (SQLite has one writer; PostgreSQL locks the owner's row first).
    pub async fn create(
        &self,
        owner: &str,
        todo: TodoFields,
        limit: u64,
    ) -> Result<Todo, StoreError> {
        Ok(self.create_versioned(owner, todo, limit).await?.0)
    }

    /// [`Todos::create`], with the new todo's version (its entity tag's).
    pub async fn create_versioned(
        &self,
        owner: &str,
        todo: TodoFields,
        limit: u64,
    ) -> Result<(Todo, i64), StoreError> {
        self.0
            .insert_todo(owner, todo, limit)
            .await?
            .ok_or(StoreError::LimitReached)
    }

    /// Calls `visit` with each of the owner's todos that `filter` selects, in its order, until
    /// it breaks. This is the list path: the caller serialises as rows arrive, and nothing is
    /// copied.
    pub async fn visit(
        &self,
        owner: &str,
        filter: &Filter,
        visit: &mut Visitor<'_>,
    ) -> Result<(), StoreError> {
        self.0.visit_todos(owner, filter, visit).await
    }

    /// How many of the owner's todos match `where_`.
    pub async fn count(&self, owner: &str, where_: Option<&Condition>) -> Result<u64, StoreError> {
        self.0.count_todos(owner, where_).await
    }

    /// Applies `changes` to the owner's todos matching `where_`; returns how many matched.
    /// Changing nothing writes nothing, and still says how many matched.
    pub async fn update(
        &self,
        owner: &str,
        where_: Option<&Condition>,
        changes: TodoChanges,
    ) -> Result<u64, StoreError> {
        if changes.is_empty() {
            return self.count(owner, where_).await;
        }
        self.0.update_todos(owner, where_, changes).await
    }

    /// Deletes the owner's todo `id`; whether it existed.
    pub async fn delete(&self, owner: &str, id: i64) -> Result<bool, StoreError> {
        Ok(self.0.delete_todo(owner, id).await? > 0)
    }

    /// The version of the owner's list: raised, in the same transaction, by every insert,
    /// update and delete of their todos (`None`: no such user).
    pub async fn list_version(&self, owner: &str) -> Result<Option<i64>, StoreError> {
        self.0.list_version(owner, false).await
    }

    /// [`Todos::list_version`], locking the owner's row until the transaction ends: no other
    /// write of their todos can come between this read and the transaction's writes.
    pub async fn lock_list(&self, owner: &str) -> Result<Option<i64>, StoreError> {
        self.0.list_version(owner, true).await
    }

    /// The version of the owner's todo `id`, if they have it.
    pub async fn version(&self, owner: &str, id: i64) -> Result<Option<i64>, StoreError> {
        self.0.todo_version(owner, id).await
    }

    /// The owner's todo `id` with its version, if they have it.
    pub async fn find(&self, owner: &str, id: i64) -> Result<Option<(Todo, i64)>, StoreError> {
        self.0.find_todo(owner, id).await
    }

    /// Applies `changes` to the owner's todo `id` if `versions` accepts its version; the check
    /// is part of the `UPDATE` (no other write can come between them). Changing nothing writes
    /// nothing.
    pub async fn update_one(
        &self,
        owner: &str,
        id: i64,
        changes: TodoChanges,
        versions: &Versions,
    ) -> Result<Written, StoreError> {
        let never = versions.one_of.as_ref().is_some_and(Vec::is_empty);
        if !changes.is_empty() && !never {
            if let Some(version) = self.0.update_todo(owner, id, changes, versions).await? {
                return Ok(Written::Done(version));
            }
        } else if let Some(version) = self.version(owner, id).await?
            && versions.accepts(version)
        {
            return Ok(Written::Done(version));
        }
        self.missed(owner, id).await
    }

    /// Deletes the owner's todo `id` if `versions` accepts its version, in one statement.
    /// `Done` carries the version it had.
    pub async fn delete_one(
        &self,
        owner: &str,
        id: i64,
        versions: &Versions,
    ) -> Result<Written, StoreError> {
        if versions.one_of.as_ref().is_some_and(Vec::is_empty) {
            return self.missed(owner, id).await;
        }
        let deleted = if versions.is_any() {
            self.0.delete_todo(owner, id).await?
        } else {
            self.0.delete_todo_at(owner, id, versions).await?
        };
        if deleted > 0 {
            return Ok(Written::Done(0));
        }
        self.missed(owner, id).await
    }

    /// Why a conditional write wrote nothing: no such todo, or a version it did not accept.
    async fn missed(&self, owner: &str, id: i64) -> Result<Written, StoreError> {
        Ok(match self.version(owner, id).await? {
            Some(version) => Written::Stale(version),
            None => Written::Missing,
        })
    }

    /// Who owns todo `id`: any user's, unlike every other read here (an import checks that
    /// the ids it keeps are free).
    pub async fn owner_of(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.0.todo_owner(id).await
    }

    /// Stores `todos` for `owner` keeping their ids (todos brought from elsewhere), unless the
    /// owner would have more than `limit` ([`StoreError::LimitReached`]). An id taken already
    /// is a [`StoreError::Conflict`]: check them first with [`Todos::owner_of`].
    /// Todos created later get larger ids than these, on both engines.
    pub async fn insert_keeping_ids(
        &self,
        owner: &str,
        todos: Vec<Todo>,
        limit: u64,
    ) -> Result<(), StoreError> {
        let wanted = todos.len();
        if self.0.insert_todos_with_ids(owner, todos, limit).await? < wanted {
            return Err(StoreError::LimitReached);
        }
        Ok(())
    }
}

/// A new todo's first version: random (1 to 2^32), as each later step is (see the version
/// migrations). Should an id ever be used again (a PostgreSQL database restored with its id
/// sequence behind, an import that writes an id freed since), the tags of the todo that had
/// it name no version of the new one: a stale `If-Match` is a 412, not a write to another
/// todo.
fn first_version() -> i64 {
    1 + i64::from(rand::random::<u32>())
}

/// The statements, once for both engines; the engine visits a list's rows itself.
#[async_trait::async_trait]
impl<X: Run> TodoStatements for X {
    async fn insert_todo(
        &self,
        owner: &str,
        todo: TodoFields,
        limit: u64,
    ) -> Result<Option<(Todo, i64)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let version = first_version();
        let params = [
            (&todo.title).into(),
            (&todo.desc).into(),
            todo.is_complete.into(),
            version.into(),
            owner.into(),
            limit.into(),
        ];
        let id = self
            .optional(Statement::write(&self.sql().todos.insert, &params))
            .await?;
        Ok(id.map(|id| (todo.with_id(id), version)))
    }

    async fn visit_todos(
        &self,
        owner: &str,
        filter: &Filter,
        visit: &mut Visitor<'_>,
    ) -> Result<(), StoreError> {
        self.visit_rows(sql::select(owner, filter, X::DIALECT), visit)
            .await
    }

    async fn count_todos(
        &self,
        owner: &str,
        where_: Option<&Condition>,
    ) -> Result<u64, StoreError> {
        let (sql, values) = sql::count(owner, where_, X::DIALECT);
        let count = Statement::read(sql, &values).costly(where_.is_some_and(Condition::is_costly));
        let count: i64 = self.one(count).await?;
        Ok(count.unsigned_abs())
    }

    async fn update_todos(
        &self,
        owner: &str,
        where_: Option<&Condition>,
        changes: TodoChanges,
    ) -> Result<u64, StoreError> {
        let (sql, values) = sql::update(owner, where_, changes, X::DIALECT);
        let update =
            Statement::write(sql, &values).costly(where_.is_some_and(Condition::is_costly));
        self.execute(update).await
    }

    async fn delete_todo(&self, owner: &str, id: i64) -> Result<u64, StoreError> {
        let params = [owner.into(), id.into(), owner.into()];
        self.execute(Statement::write(&self.sql().todos.delete, &params))
            .await
    }

    async fn update_todo(
        &self,
        owner: &str,
        id: i64,
        changes: TodoChanges,
        versions: &Versions,
    ) -> Result<Option<i64>, StoreError> {
        let (sql, values) = sql::update_one(owner, id, changes, versions, X::DIALECT);
        self.optional(Statement::write(sql, &values)).await
    }

    async fn delete_todo_at(
        &self,
        owner: &str,
        id: i64,
        versions: &Versions,
    ) -> Result<u64, StoreError> {
        let (sql, values) = sql::delete_one(owner, id, versions, X::DIALECT);
        self.execute(Statement::write(sql, &values)).await
    }

    async fn todo_version(&self, owner: &str, id: i64) -> Result<Option<i64>, StoreError> {
        let params = [owner.into(), id.into()];
        self.optional(Statement::read(&self.sql().todos.version, &params))
            .await
    }

    async fn find_todo(&self, owner: &str, id: i64) -> Result<Option<(Todo, i64)>, StoreError> {
        let params = [owner.into(), id.into()];
        self.optional(Statement::read(&self.sql().todos.find, &params).wide())
            .await
    }

    async fn list_version(&self, owner: &str, lock: bool) -> Result<Option<i64>, StoreError> {
        let sql = &self.sql().todos;
        let params = [owner.into()];
        if lock {
            self.optional(Statement::write(&sql.lock_list, &params))
                .await
        } else {
            self.optional(Statement::read(&sql.list_version, &params))
                .await
        }
    }

    async fn todo_owner(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.optional(Statement::read(&self.sql().todos.owner, &[id.into()]))
            .await
    }

    /// One statement a todo, on one connection: an import runs inside a transaction. On
    /// SQLite `AUTOINCREMENT` keeps its sequence past every id inserted, explicit ones too;
    /// PostgreSQL's sequence is moved past them afterwards.
    async fn insert_todos_with_ids(
        &self,
        owner: &str,
        todos: Vec<Todo>,
        limit: u64,
    ) -> Result<usize, StoreError> {
        let sql = &self.sql().todos;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut inserted = 0;
        for todo in &todos {
            let params = [
                todo.id.into(),
                (&todo.title).into(),
                (&todo.desc).into(),
                todo.is_complete.into(),
                first_version().into(),
                owner.into(),
                limit.into(),
            ];
            let row: Option<i64> = self
                .optional(Statement::write(&sql.insert_with_id, &params))
                .await?;
            if row.is_none() {
                break;
            }
            inserted += 1;
        }
        if inserted > 0
            && let Some(follow) = &sql.follow_ids
        {
            // `setval` is not transactional: rolled back, the import leaves a gap in the ids,
            // never a reused one.
            self.execute(Statement::write(follow, &[])).await?;
        }
        Ok(inserted)
    }
}
