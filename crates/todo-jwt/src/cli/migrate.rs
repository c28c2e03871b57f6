//! `todo-jwt migrate`.

use super::{Failure, Outcome, open_store};
use crate::Config;

/// Applies the migrations of the configured database.
pub async fn run(config: &Config) -> Outcome {
    open_store(config)
        .await
        .map_err(|error| Failure::new("migration failed", error))?;
    Ok("migrations applied".to_owned())
}
