//! `todo-jwt restore <backup>`.

use std::path::Path;

use super::{Failure, Outcome};
use crate::{
    Config,
    store::{Database, restore_sqlite},
};

/// Replaces the SQLite database with `backup`.
pub fn run(config: &Config, backup: &Path) -> Outcome {
    let Database::Sqlite(database) = config.database() else {
        return Err(Failure::new(
            "restore is for the SQLite database",
            "restore PostgreSQL with its own tools",
        ));
    };
    restore_sqlite(&database, backup).map_err(|error| Failure::new("restore failed", error))?;
    Ok(format!(
        "{} restored from {}",
        database.display(),
        backup.display()
    ))
}
