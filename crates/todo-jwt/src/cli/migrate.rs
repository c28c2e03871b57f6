//! `todo-jwt migrate`.

use super::{Failure, Outcome, open_store};
use crate::config::Settings;

/// Applies the migrations of the configured database.
pub async fn run(settings: &Settings) -> Outcome {
    open_store(settings)
        .await
        .map_err(|error| Failure::new("migration failed", error))?;
    Ok("migrations applied".to_owned())
}
