//! `todo-jwt import-loopback <db.json> --owner <email>`: moving in from LoopBack's `todo-jwt`.
//!
//! LoopBack's memory connector keeps everything in one file ([`file`](mod@file) reads it). Its users
//! keep their ids, emails and passwords: their bcrypt hashes are stored as they are, checked
//! at login like argon2 ones, and replaced by argon2id at the first successful login
//! (`accounts::Accounts::check_password_hash`). Its todos have no owner, so they all go to
//! the user with the `--owner` email, and keep their ids.
//!
//! The import is one transaction: a bad file, or one that does not fit this database, changes
//! nothing. Running it again adds nothing: users and todos already present by id are skipped.

pub mod file;

use std::{collections::BTreeMap, fmt, path::Path};

use crate::{
    store::{Store, StoreError, email_key},
    todos::TodoLimits,
};

/// The largest file `import-loopback` reads: LoopBack's memory connector holds its whole
/// database in memory and in this one file, so a real one is far smaller.
pub const MAX_FILE: u64 = 64 * 1024 * 1024;

/// Why nothing was imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is larger than any memory connector file this service would take.
    #[error(
        "{path} is larger than {} MiB: not a LoopBack memory connector file this service takes \
         (import such a database table by table instead)",
        MAX_FILE / (1024 * 1024)
    )]
    TooLarge {
        /// The file.
        path: String,
    },
    /// The file is not JSON in the memory connector's shape.
    #[error("not LoopBack's memory connector file ({{\"ids\":{{...}},\"models\":{{...}}}})")]
    Shape(#[source] serde_json::Error),
    /// One record is wrong, or does not fit what the database holds.
    #[error("{model} {id:?}: {problem}")]
    Record {
        /// `User`, `UserCredentials` or `Todo`.
        model: &'static str,
        /// The key it is stored under.
        id: String,
        /// What is wrong.
        problem: String,
    },
    /// Users whose emails differ only in letter case: one account here, two in LoopBack.
    #[error(
        "emails that differ only in letter case are one account here, so these users cannot \
         all be imported (merge or rename them in LoopBack first): {}",
        list_duplicates(.0)
    )]
    CaseDuplicates(Vec<Vec<(String, String)>>),
    /// `--owner` names nobody.
    #[error(
        "no user has the email {0:?}, in the file or in the database: --owner must name the \
         user who gets LoopBack's todos (they have no owner there)"
    )]
    UnknownOwner(String),
    /// The owner would have more todos than a user may.
    #[error(
        "{owner} would have {total} todos, more than the {limit} a user may have \
         (TODO_JWT_MAX_TODOS_PER_USER)"
    )]
    TooManyTodos {
        /// The owner's email.
        owner: String,
        /// The todos they have plus the ones added.
        total: u64,
        /// The limit.
        limit: u64,
    },
    /// The database failed.
    #[error("the database failed")]
    Store(#[from] StoreError),
}

fn list_duplicates(groups: &[Vec<(String, String)>]) -> String {
    groups
        .iter()
        .map(|users| {
            users
                .iter()
                .map(|(id, email)| format!("{email} (User {id:?})"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Users stored now.
    pub users_added: usize,
    /// Users already present (same id, same email): left as they are.
    pub users_skipped: usize,
    /// Todos stored now, for the owner.
    pub todos_added: usize,
    /// Todos already present (same id, same owner): left as they are.
    pub todos_skipped: usize,
    /// The id of the user the todos went to.
    pub owner: String,
    /// What this service does not keep, and in how many records.
    pub not_kept: BTreeMap<String, usize>,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "users: {} added, {} already present",
            self.users_added, self.users_skipped
        )?;
        write!(
            f,
            "todos: {} added, {} already present (owner {})",
            self.todos_added, self.todos_skipped, self.owner
        )?;
        if !self.not_kept.is_empty() {
            let not_kept: Vec<_> = self
                .not_kept
                .iter()
                .map(|(what, records)| format!("{what} ({records})"))
                .collect();
            write!(f, "\nnot kept (records): {}", not_kept.join(", "))?;
        }
        Ok(())
    }
}

/// Imports the LoopBack file at `path`, giving its todos to the user whose email is `owner`.
/// Reads the whole file (it is a CLI's work, not a request's).
pub async fn import_file(
    store: &Store,
    path: &Path,
    owner: &str,
    limits: TodoLimits,
) -> Result<ImportReport, ImportError> {
    use std::io::Read as _;
    let read_error = |source| ImportError::Read {
        path: path.display().to_string(),
        source,
    };
    // Read at most one byte past the cap, whatever the file claims to be (`/dev/zero` has no
    // length): never a whole unbounded stream into memory.
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(read_error)?
        .take(MAX_FILE + 1)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    if text.len() as u64 > MAX_FILE {
        return Err(ImportError::TooLarge {
            path: path.display().to_string(),
        });
    }
    import(store, &text, owner, limits).await
}

/// Imports LoopBack's memory connector file `text` in one transaction.
pub async fn import(
    store: &Store,
    text: &str,
    owner: &str,
    limits: TodoLimits,
) -> Result<ImportReport, ImportError> {
    let data = file::parse(text, &limits)?;
    let transaction = store.transaction().await?;
    let users = transaction.users();
    let (mut users_added, mut users_skipped) = (0, 0);
    for record in data.users {
        let id = record.user.id.clone();
        let conflict = |problem: String| ImportError::Record {
            model: "User",
            id: id.clone(),
            problem,
        };
        if let Some(present) = users.find(&id).await? {
            if email_key(&present.email) != email_key(&record.user.email) {
                return Err(conflict(format!(
                    "this id belongs to another account here ({})",
                    present.email
                )));
            }
            users_skipped += 1;
            continue;
        }
        if let Some(present) = users.find_by_email(&record.user.email).await? {
            return Err(conflict(format!(
                "{} is already registered here, to user {:?}",
                record.user.email, present.user.id
            )));
        }
        users.insert(record).await?;
        users_added += 1;
    }

    let owner_id = users
        .find_by_email(owner)
        .await?
        .ok_or_else(|| ImportError::UnknownOwner(owner.to_owned()))?
        .user
        .id;
    let todos = transaction.todos();
    let mut added = Vec::new();
    let mut todos_skipped = 0;
    for todo in data.todos {
        match todos.owner_of(todo.id).await? {
            None => added.push(todo),
            Some(present) if present == owner_id => todos_skipped += 1,
            Some(_) => {
                return Err(ImportError::Record {
                    model: "Todo",
                    id: todo.id.to_string(),
                    problem: "this id is another user's todo here; LoopBack's todo ids are kept, \
                              so they must be free (import before this database has todos of \
                              its own)"
                        .to_owned(),
                });
            }
        }
    }
    let todos_added = added.len();
    let too_many = |total: u64| ImportError::TooManyTodos {
        owner: owner.to_owned(),
        total,
        limit: limits.per_user,
    };
    let total = todos.count(&owner_id, None).await? + todos_added as u64;
    if total > limits.per_user {
        return Err(too_many(total));
    }
    todos
        .insert_keeping_ids(&owner_id, added, limits.per_user)
        .await
        .map_err(|error| match error {
            StoreError::LimitReached => too_many(total),
            other => other.into(),
        })?;
    transaction.commit().await?;
    let report = ImportReport {
        users_added,
        users_skipped,
        todos_added,
        todos_skipped,
        owner: owner_id,
        not_kept: data.not_kept,
    };
    tracing::info!(
        event = "import_loopback",
        users_added,
        todos_added,
        "imported from LoopBack"
    );
    Ok(report)
}
