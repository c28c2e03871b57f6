//! `todo-jwt rotate-keys` and `todo-jwt revoke-key <kid>`.

use std::time::Duration;

use super::{Failure, Outcome, database_in_use, open_store};
use crate::{Config, keys, store::Database};

/// What to do when `rotate-keys` finds the SQLite database held by the running service.
const SIGNAL_HINT: &str = "on SQLite, while the service runs, rotate with: kill -USR2 <its pid>";

/// Adds an Ed25519 key that signs after the activation delay.
pub async fn rotate(config: &Config) -> Outcome {
    let failed =
        |error: Box<dyn std::error::Error + Send + Sync>| Failure::new("no key added", error);
    let (secret, _) = config
        .service_secret()
        .map_err(|error| failed(error.into()))?;
    let store = open_store(config).await.map_err(|error| {
        let sqlite = matches!(config.database(), Database::Sqlite(_));
        let in_use = sqlite && database_in_use(&error);
        let failure = failed(error.into());
        if in_use {
            failure.with_hint(SIGNAL_HINT)
        } else {
            failure
        }
    })?;
    let record = keys::rotate(
        &store,
        &keys::Sealer::from_secret(&secret),
        keys::JwtAlgorithm::EdDsa,
        Duration::from_secs(config.key_activation_delay),
    )
    .await
    .map_err(|error| failed(error.into()))?;
    Ok(format!(
        "added signing key {} (EdDSA); it signs new tokens in {} s",
        record.kid, config.key_activation_delay
    ))
}

/// Removes the key `kid` at once.
pub async fn revoke(config: &Config, kid: &str) -> Outcome {
    let failed =
        |error: Box<dyn std::error::Error + Send + Sync>| Failure::new("no key removed", error);
    let store = open_store(config)
        .await
        .map_err(|error| failed(error.into()))?;
    let record = keys::revoke(&store, kid)
        .await
        .map_err(|error| failed(error.into()))?;
    Ok(format!(
        "removed signing key {} ({}); running instances refuse its tokens within their reload \
         interval",
        record.kid, record.algorithm
    ))
}
