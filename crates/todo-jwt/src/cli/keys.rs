//! `todo-jwt rotate-keys` and `todo-jwt revoke-key <kid>`.

use super::{Failure, Outcome, database_in_use, open_store};
use crate::{config::Settings, keys};

/// What to do when `rotate-keys` finds the SQLite database held by the running service.
const SIGNAL_HINT: &str = "on SQLite, while the service runs, rotate with: kill -USR2 <its pid>";

/// Adds an Ed25519 key that signs after the activation delay.
pub async fn rotate(settings: &Settings) -> Outcome {
    let failed =
        |error: Box<dyn std::error::Error + Send + Sync>| Failure::new("no key added", error);
    let (secret, _) = settings
        .service_secret()
        .map_err(|error| failed(error.into()))?;
    let store = open_store(settings).await.map_err(|error| {
        let sqlite = settings.is_sqlite();
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
        settings.key_activation_delay,
    )
    .await
    .map_err(|error| failed(error.into()))?;
    Ok(format!(
        "added signing key {} (EdDSA); it signs new tokens in {} s",
        record.kid,
        settings.key_activation_delay.as_secs()
    ))
}

/// Removes the key `kid` at once.
pub async fn revoke(settings: &Settings, kid: &str) -> Outcome {
    let failed =
        |error: Box<dyn std::error::Error + Send + Sync>| Failure::new("no key removed", error);
    // (The secret tells the newest key, which cannot be removed, from rows left out.)
    let (secret, _) = settings
        .service_secret()
        .map_err(|error| failed(error.into()))?;
    let store = open_store(settings)
        .await
        .map_err(|error| failed(error.into()))?;
    let record = keys::revoke(&store, &keys::Sealer::from_secret(&secret), kid)
        .await
        .map_err(|error| failed(error.into()))?;
    Ok(format!(
        "removed signing key {} ({}); running instances refuse its tokens within their reload \
         interval",
        record.kid, record.algorithm
    ))
}
