//! `todo-jwt restore <backup>`.

use std::path::Path;

use super::{Failure, Outcome};
use crate::{
    config::Settings,
    store::{Database, restore_sqlite},
};

/// Replaces the SQLite database with `backup`.
pub fn run(settings: &Settings, backup: &Path) -> Outcome {
    let Database::Sqlite(database) = settings.database.clone() else {
        return Err(Failure::refused(
            "restore is for the SQLite database; restore PostgreSQL with its own tools",
        ));
    };
    restore_sqlite(&database, backup).map_err(|error| Failure::new("restore failed", error))?;
    Ok(format!(
        "{} restored from {}",
        database.display(),
        backup.display()
    ))
}
