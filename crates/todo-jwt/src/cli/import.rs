//! `todo-jwt import-loopback <file> --owner <email>`.

use std::path::Path;

use super::{Failure, Outcome, open_store};
use crate::{config::Settings, import};

/// Imports LoopBack's `db.json` in one transaction.
pub async fn run(settings: &Settings, file: &Path, owner: &str) -> Outcome {
    let store = open_store(settings)
        .await
        .map_err(|error| Failure::new("cannot open the database", error))?;
    let report = import::import_file(&store, file, owner, settings.todos)
        .await
        .map_err(|error| {
            Failure::new(format!("nothing imported from {}", file.display()), error)
        })?;
    Ok(format!("imported {}\n{report}", file.display()))
}
