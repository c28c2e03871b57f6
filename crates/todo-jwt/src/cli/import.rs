//! `todo-jwt import-loopback <file> --owner <email>`.

use std::path::Path;

use super::{Failure, Outcome, open_store};
use crate::{Config, import};

/// Imports LoopBack's `db.json` in one transaction.
pub async fn run(config: &Config, file: &Path, owner: &str) -> Outcome {
    let store = open_store(config)
        .await
        .map_err(|error| Failure::new("cannot open the database", error))?;
    let report = import::import_file(&store, file, owner, config.todo_limits())
        .await
        .map_err(|error| {
            Failure::new(format!("nothing imported from {}", file.display()), error)
        })?;
    Ok(format!("imported {}\n{report}", file.display()))
}
