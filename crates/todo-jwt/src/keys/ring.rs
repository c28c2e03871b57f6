//! The keys in force: opened from the rows this secret trusts, handed to the token service,
//! and kept in step with the table. A row left out is said once (a warning) per instance.

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use authn_jwt::{JwtService, Key, KeySet};
use bytes::Bytes;
use secrecy::SecretString;

use super::{
    JwtAlgorithm, KeyError, Sealer,
    jwks::jwks_body,
    reseal::reseal,
    rotation::{expired, new_record, rotate, switch},
    sealing::{Opened, some_trusted, trusted},
};
use crate::{
    clock::now,
    ops::tasks::Wake,
    store::{KeyRecord, Store},
};

/// What the running service needs of its configuration to manage its keys.
#[derive(Clone)]
pub struct KeyOptions {
    /// The service secret: HS256's key, and what private keys are sealed with.
    pub secret: SecretString,
    /// `--jwt-algorithm`, when given.
    pub algorithm: Option<JwtAlgorithm>,
    /// The longest token lifetime (a key is removed this long after its successor signs).
    pub lifetime: Duration,
    /// The clock skew tolerated, added to the lifetime before a key is removed.
    pub leeway: Duration,
    /// How long before it signs a key added by `SIGUSR2` is published.
    pub activation_delay: Duration,
    /// How often the table is read again (other instances' rotations).
    pub reload_interval: Duration,
    /// Whether other instances may share the table (PostgreSQL): a key added at start then
    /// signs only after they have all read it.
    pub shared: bool,
}

/// The signing keys of a running service: what it signs and verifies with, kept in step with
/// the table, and the JWK Set it publishes.
#[derive(Clone)]
pub struct Keyring {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").finish_non_exhaustive()
    }
}

struct Inner {
    store: Store,
    sealer: Sealer,
    options: KeyOptions,
    /// The rows the keys in force were built from.
    loaded: RwLock<Vec<KeyRecord>>,
    /// The JWK Set, serialised.
    jwks: RwLock<Bytes>,
    /// What was said about keys left out (each said once).
    left_out: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Keyring {
    /// Reads the keys (re-sealing an older installation's first), adding the installation's
    /// first key (or, with another `--jwt-algorithm` than the newest key's, a key of that
    /// algorithm), and returns the keyring and the key set to build the token service with.
    pub async fn open(store: Store, options: KeyOptions) -> Result<(Self, KeySet), KeyError> {
        let sealer = Sealer::from_secret(&options.secret);
        reseal(&store, &sealer).await?;
        let keys = store.signing_keys();
        if keys.list().await?.is_empty() {
            // (An installation from before keys were stored got an HS256 row from the
            // migration that made the table: its clients hold HS256 tokens.)
            let algorithm = options.algorithm.unwrap_or(JwtAlgorithm::EdDsa);
            // Generation 1 once: instances starting together on an empty table agree on it.
            if keys.add(new_record(&sealer, algorithm, 1, now())?).await? {
                tracing::info!(algorithm = algorithm.name(), "added the first signing key");
            }
        } else if let Some(algorithm) = options.algorithm {
            // (This secret must open a key before this instance adds one.)
            switch(&store, &sealer, &options, algorithm).await?;
        }
        // Some row must open (else the secret is not the keys'); the others are left out.
        let (opened, left_out) = some_trusted(&sealer, keys.list().await?)?;
        let set = key_set(&options.secret, &opened)?;
        let keyring = Self {
            inner: Arc::new(Inner {
                store,
                sealer,
                options,
                loaded: RwLock::new(opened.into_iter().map(|row| row.record).collect()),
                jwks: RwLock::new(jwks_body(&set)),
                left_out: std::sync::Mutex::default(),
            }),
        };
        keyring.say_left_out(left_out);
        Ok((keyring, set))
    }

    /// Says, once per instance each, why rows are left out.
    fn say_left_out(&self, left_out: Vec<KeyError>) {
        let mut said = self
            .inner
            .left_out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for error in left_out {
            if said.insert(error.to_string()) {
                tracing::warn!(
                    cause = %error,
                    "a signing key is left out: not trusted to sign, verify or retire others"
                );
            }
        }
    }

    /// The JWK Set, serialised.
    pub fn jwks(&self) -> Bytes {
        self.inner
            .jwks
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the table again: removes the keys whose tokens have all expired, and when the
    /// keys changed (a rotation here or on another instance), gives `jwt` the new set.
    pub async fn reload(&self, jwt: &JwtService) -> Result<(), KeyError> {
        let inner = &self.inner;
        let keys = inner.store.signing_keys();
        // Only keys this secret opens count, for removal too: a row written by someone
        // without the secret must not retire the keys in force.
        let (opened, mut left_out) = trusted(&inner.sealer, keys.list().await?);
        // Keys are only ever added after the newest: one that appears below the newest key
        // loaded was removed and put back (a revoked key, from a dump).
        let (mut opened, reappeared): (Vec<_>, Vec<_>) = {
            let loaded = inner
                .loaded
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let newest = loaded.last().map_or(i64::MIN, |newest| newest.generation);
            opened.into_iter().partition(|row| {
                row.record.generation > newest
                    || loaded.iter().any(|known| known.kid == row.record.kid)
            })
        };
        left_out.extend(
            reappeared
                .into_iter()
                .map(|row| KeyError::Reappeared(row.record.kid)),
        );
        self.say_left_out(left_out);
        let records: Vec<_> = opened.iter().map(|row| row.record.clone()).collect();
        let expired = expired(
            &records,
            now(),
            inner.options.lifetime + inner.options.leeway,
        );
        opened.retain(|row| !expired.contains(&row.record.kid));
        let records: Vec<_> = opened.iter().map(|row| row.record.clone()).collect();
        if *inner
            .loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            == records
        {
            return Ok(());
        }
        // Built before anything is removed: when no key can sign, nothing changes.
        let set = key_set(&inner.options.secret, &opened)?;
        for kid in &expired {
            keys.remove(kid).await?;
            tracing::info!(%kid, "removed a signing key: the tokens it signed have expired");
        }
        *inner
            .jwks
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = jwks_body(&set);
        jwt.set_keys(set);
        *inner
            .loaded
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = records;
        tracing::info!("signing keys reloaded");
        Ok(())
    }

    /// Adds an Ed25519 key that signs after the activation delay, and reloads.
    pub async fn rotate(&self, jwt: &JwtService) -> Result<KeyRecord, KeyError> {
        let record = rotate(
            &self.inner.store,
            &self.inner.sealer,
            JwtAlgorithm::EdDsa,
            self.inner.options.activation_delay,
        )
        .await?;
        self.reload(jwt).await?;
        Ok(record)
    }

    /// How often the table is read again.
    pub fn reload_interval(&self) -> Duration {
        self.inner.options.reload_interval
    }

    /// One step of the key task: on `SIGUSR2` a rotation, on a tick a reload. Failures are
    /// logged (the keys in force stay).
    pub async fn on_wake(&self, jwt: &JwtService, wake: Wake) {
        match wake {
            Wake::Signal => match self.rotate(jwt).await {
                Ok(record) => tracing::info!(
                    kid = %record.kid,
                    in_seconds = self.inner.options.activation_delay.as_secs(),
                    "SIGUSR2: added a signing key, which signs new tokens in_seconds from now"
                ),
                Err(error) => tracing::error!(
                    cause = %crate::http::error::chain(&error),
                    "SIGUSR2: cannot add a signing key"
                ),
            },
            Wake::Tick => {
                if let Err(error) = self.reload(jwt).await {
                    tracing::warn!(
                        cause = %crate::http::error::chain(&error),
                        "cannot reload the signing keys; the ones in force stay"
                    );
                }
            }
        }
    }
}

/// The key set of the opened rows: each Ed25519 key, and the newest HS256 row as the
/// secret's key (one is enough: they are all the same key).
fn key_set(secret: &SecretString, rows: &[Opened]) -> Result<KeySet, KeyError> {
    let newest_hs256 = rows
        .iter()
        .rfind(|row| row.key.is_none())
        .map(|row| row.record.generation);
    let mut set: Option<KeySet> = None;
    for row in rows {
        let key = match &row.key {
            Some(key) => key.clone(),
            None if Some(row.record.generation) == newest_hs256 => Key::hs256(secret)?,
            None => continue,
        };
        let signs_from = u64::try_from(row.record.signs_from).unwrap_or(0);
        set = Some(match set {
            None => KeySet::starting(key, signs_from),
            Some(set) => set.with_key(key, signs_from)?,
        });
    }
    set.ok_or(KeyError::NoSigningKey)
}
